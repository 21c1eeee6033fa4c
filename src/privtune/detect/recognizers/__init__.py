"""Built-in recognizers, grouped by family."""
