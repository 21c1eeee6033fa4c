"""Artifact scan: every file in a model or checkpoint folder, identified by content.

Nothing here ever unpickles: pickles are read opcode by opcode (``pickletools.genops``) and
every import they would perform is checked (GLOBAL, INST, STACK_GLOBAL, EXT*). Torch zip
archives are opened as zips and each pickle inside is analysed the same way. Safetensors
headers are validated and their ``__metadata__`` scanned. Text files (JSON, JSON lines, YAML,
model cards, logs, trainer state, ``generated_predictions.jsonl``) are scanned for PII and
secrets, and every value found is matched against the PII inventory by keyed fingerprint.

Severities: ``critical`` (code execution on load, a customer's PII from the inventory),
``high`` (an import that cannot be verified, a malformed container, structured PII or a
secret), ``medium`` (free-text PII such as a person's name; a customer's name that is also a
tokenizer token), ``info``. The gate counts critical and high. Tokens the base model's own
tokenizer has are not scanned: they came with the pretrained model.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickletools
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from privtune.audit.inventory import Inventory, mask_value

GATED = ("critical", "high")

#: imports that execute code, reach the OS or load more code: never legitimate in weights/args
DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
    "commands", "webbrowser", "ctypes", "pickle", "_pickle", "marshal", "types", "code",
    "codeop", "multiprocessing", "asyncio", "requests", "urllib", "http", "ftplib", "smtplib",
    "telnetlib", "platform", "signal", "builtins.eval", "pdb", "bdb", "cProfile", "profile",
    "timeit", "trace", "imp", "zipimport", "pkgutil", "site", "sysconfig", "distutils",
    "setuptools", "pip", "dill", "cloudpickle", "joblib", "torch.hub", "torch.jit",
    "torch.utils.cpp_extension", "numpy.testing", "numpy.f2py", "numpy.distutils",
    "operator", "functools", "inspect", "gc", "threading", "_thread", "tempfile", "io", "_io",
    "glob", "fileinput", "linecache", "posixpath", "ntpath", "shlex", "popen2",
})
DANGEROUS_BUILTINS = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "__import__",
    "globals", "locals", "vars", "input", "breakpoint", "exit", "quit", "help", "memoryview",
    "type", "super", "classmethod", "staticmethod", "property", "print", "dir", "apply",
    "execfile", "reload", "file",
})
SAFE_GLOBALS = frozenset({
    "collections OrderedDict", "collections defaultdict", "collections Counter",
    "collections deque", "builtins set", "builtins frozenset", "builtins slice",
    "builtins range", "builtins complex", "builtins bytearray", "builtins bytes", "builtins dict",
    "builtins list", "builtins tuple", "builtins int", "builtins float", "builtins str",
    "builtins bool", "builtins object", "__builtin__ set", "copyreg _reconstructor",
    "copy_reg _reconstructor", "_codecs encode", "datetime datetime", "datetime date",
    "datetime timedelta", "datetime timezone", "decimal Decimal", "fractions Fraction",
    "uuid UUID", "pathlib PosixPath", "pathlib WindowsPath", "pathlib Path",
    "pathlib PurePosixPath", "pathlib PureWindowsPath", "torch Size", "torch device",
    "torch dtype", "torch bfloat16", "torch float16", "torch float32", "torch float64",
    "torch int64", "torch int32", "torch int8", "torch uint8", "torch bool",
    "numpy dtype", "numpy ndarray", "numpy.core.multiarray _reconstruct",
    "numpy._core.multiarray _reconstruct", "numpy.core.multiarray scalar",
    "numpy._core.multiarray scalar", "numpy.dtypes Float32DType", "numpy.dtypes Int64DType",
    "argparse Namespace", "enum Enum",
})
#: libraries whose *classes* (dataclasses, enums, configs) legitimately appear in
#: training_args.bin / optimizer state; their functions do not
CLASS_PREFIXES = ("transformers.", "accelerate.", "peft.", "trl.", "llamafactory.",
                  "torch.distributed.", "deepspeed.", "privtune.")
TORCH_REBUILD = ("torch._utils", "torch._tensor", "torch.storage", "torch.nn.parameter",
                 "torch.serialization")
#: text types whose detection is structural (checksums, formats): a real finding on its own
STRUCTURED_TYPES = frozenset({"PHONE", "EMAIL", "ID_CARD", "BANK_CARD", "US_SSN", "IBAN",
                              "PASSPORT", "SECRET", "IP_ADDRESS", "IM_ID", "LICENSE_PLATE"})
MAX_TEXT_BYTES = 64 << 20
MAX_SEALED_BYTES = 4 << 30  # sealed files are opened in memory (never on disk) up to this
SEAL_MAGIC = b"\x89PTSEAL\n"

#: a file on disk, or plaintext in memory (a sealed file opened with the keyring)
Source = Path | bytes


def _open(src: Source) -> Any:
    return io.BytesIO(src) if isinstance(src, bytes | bytearray) else Path(src).open("rb")


def _read_all(src: Source) -> bytes:
    return bytes(src) if isinstance(src, bytes | bytearray) else Path(src).read_bytes()


@dataclass
class Finding:
    path: str
    severity: str
    kind: str  # "pickle-import", "pickle-malformed", "safetensors", "pii", "secret", ...
    detail: str
    type: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class FileInfo:
    path: str
    kind: str  # "pickle", "torch-zip", "zip", "safetensors", "gguf", "npy", "text", "binary"
    size: int
    findings: int = 0


# --- pickles ---------------------------------------------------------------------------------
def classify_global(module: str, name: str) -> tuple[str, str] | None:
    """(severity, reason) for an import a pickle performs, or None when it is known safe."""
    full = f"{module} {name}"
    root = module.split(".")[0]
    if full in SAFE_GLOBALS:
        return None
    if module in ("builtins", "__builtin__"):
        if name in DANGEROUS_BUILTINS:
            return "critical", f"builtins.{name} runs code"
        return "high", f"builtins.{name} is not on the allow-list"
    if module in DANGEROUS_MODULES or root in DANGEROUS_MODULES or \
            any(module.startswith(d + ".") for d in DANGEROUS_MODULES):
        return "critical", f"{module}.{name} can execute code or reach the system"
    if module.startswith(TORCH_REBUILD) and (name.startswith("_rebuild") or
                                             name.endswith("Storage")):
        return None
    if module == "torch" and name.endswith("Storage"):
        return None
    if module.startswith(CLASS_PREFIXES) and name[:1].isupper():
        return None
    return "high", f"{module}.{name} is not on the allow-list (cannot be verified)"


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
               "BINSTRING", "SHORT_BINSTRING"}
_MARK = object()


def _simulate(stream: io.BytesIO, imports: list[tuple[str, str]]) -> bool:
    """Walk one pickle's opcodes with a symbolic stack (strings tracked, all else opaque);
    record every import. Returns whether STOP was reached. Raises on malformed input."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    for op, arg, _pos in pickletools.genops(stream):
        name = op.name
        if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            memo[len(memo) if name == "MEMOIZE" else int(arg)] = stack[-1] if stack else None
            continue
        if name in ("GLOBAL", "INST"):
            mod, _, attr = str(arg).partition(" ")
            imports.append((mod, attr))
        elif name == "STACK_GLOBAL":
            mod, attr = (stack[-2], stack[-1]) if len(stack) >= 2 else (None, None)
            if isinstance(mod, str) and isinstance(attr, str):
                imports.append((mod, attr))
            else:
                imports.append(("?", "?"))  # computed import: cannot be verified
        elif name in ("EXT1", "EXT2", "EXT4"):
            imports.append(("copyreg-extension", str(arg)))
        before = op.stack_before
        if pickletools.markobject in before:
            while stack and stack[-1] is not _MARK:
                stack.pop()
            if stack:
                stack.pop()
            for _ in range(before.index(pickletools.markobject)):
                if stack:
                    stack.pop()
        else:
            for _ in before:
                if stack:
                    stack.pop()
        if name == "MARK":
            stack.append(_MARK)
        elif name in _STRING_OPS:
            stack.append(arg if isinstance(arg, str) else None)
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(int(arg)))
        else:
            stack.extend([None] * len(op.stack_after))
        if name == "STOP":
            return True
    return False


def pickle_imports(data: bytes) -> tuple[list[tuple[str, str]], str | None, int]:
    """Every (module, name) a pickle stream imports, the parse error if any, and where the
    stream ended. Follows several pickles in a row (legacy torch files)."""
    imports: list[tuple[str, str]] = []
    pos, error = 0, None
    for _ in range(16):
        if pos >= len(data):
            break
        stream = io.BytesIO(data)
        stream.seek(pos)
        try:
            stopped = _simulate(stream, imports)
            pos = stream.tell()
        except Exception as exc:  # any parse failure is a finding, not a crash
            if pos == 0:
                error = f"{type(exc).__name__}: {exc}"
            break
        if not stopped or data[pos : pos + 1] != b"\x80":
            break  # end, or raw tensor bytes follow (legacy torch format)
    return imports, error, pos


def _pickle_findings(rel: str, data: bytes) -> list[Finding]:
    imports, error, _ = pickle_imports(data)
    out: list[Finding] = []
    for mod, attr in dict.fromkeys(imports):
        verdict = ("high", "import computed at load time") if mod == "?" else \
            ("critical", "copyreg extension import") if mod == "copyreg-extension" else \
            classify_global(mod, attr)
        if verdict:
            out.append(Finding(rel, verdict[0], "pickle-import",
                               f"{mod}.{attr}: {verdict[1]}" if mod != "?" else verdict[1]))
    if error:
        out.append(Finding(rel, "high", "pickle-malformed", f"unparseable pickle ({error})"))
    return out


# --- containers ------------------------------------------------------------------------------
def sniff(head: bytes, size: int) -> str:
    """The kind of a file from its first bytes."""
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:8] == SEAL_MAGIC:
        return "sealed"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if head[:1] in (b"(", b"c", b"]", b"}", b"i") and _looks_like_p0_pickle(head):
        return "pickle"
    if b"\x00" not in head[:8192]:
        try:
            head[:8192].decode("utf-8")
            return "text"
        except UnicodeDecodeError as exc:
            if exc.start >= min(len(head), 8192) - 4:  # a character cut at the edge
                return "text"
    return "binary"


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_CALL_OPS = {"REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"}


def _looks_like_p0_pickle(head: bytes) -> bool:
    """Protocol 0/1 pickles have no magic. Text that merely starts like one ("checkpoint
    saved\n...") is not one: require a whole pickle, or an import of real identifiers
    followed by a call (which would run before any later parse error)."""
    imports, error, end = pickle_imports(head)
    if error is None and end > 0 and (imports or end == len(head)):
        return True
    if not imports or not all(_IDENT.fullmatch(m) and _IDENT.fullmatch(n) for m, n in imports):
        return False
    try:
        return any(op.name in _CALL_OPS for op, _a, _p in _safe_ops(head))
    except Exception:
        return False


def _safe_ops(data: bytes):
    out = []
    try:
        for item in pickletools.genops(io.BytesIO(data)):
            out.append(item)
    except Exception:
        pass
    return out


def _scan_zip(rel: str, path: Source) -> tuple[str, list[Finding]]:
    out: list[Finding] = []
    kind = "zip"
    try:
        with _open(path) as raw, zipfile.ZipFile(raw) as zf:
            for info in zf.infolist():
                with zf.open(info) as fh:
                    head = fh.read(2)
                member = f"{rel}!{info.filename}"
                if info.filename.endswith(".pkl") or (len(head) == 2 and head[0] == 0x80
                                                      and 2 <= head[1] <= 5):
                    if info.filename.endswith("data.pkl"):
                        kind = "torch-zip"
                    out += _pickle_findings(member, zf.read(info))
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        out.append(Finding(rel, "high", "zip-malformed", f"unreadable zip ({exc})"))
    return kind, out


def _scan_safetensors(rel: str, path: Source, size: int) -> tuple[list[Finding], list[str]]:
    """Header validity; returns findings and the ``__metadata__`` strings to scan as text."""
    out: list[Finding] = []
    texts: list[str] = []
    with _open(path) as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > 100 << 20:
            return [Finding(rel, "high", "safetensors", "header larger than 100 MiB")], texts
        raw = fh.read(n)
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        return [Finding(rel, "high", "safetensors", f"header is not valid JSON ({exc})")], texts
    data_len = size - 8 - n
    spans = []
    for name, t in header.items():
        if name == "__metadata__":
            if not isinstance(t, dict) or not all(isinstance(v, str) for v in t.values()):
                out.append(Finding(rel, "high", "safetensors", "__metadata__ must map str to str"))
            else:
                texts += [f"{k}: {v}" for k, v in t.items()]
            continue
        try:
            begin, end = (int(x) for x in t["data_offsets"])
            if not (0 <= begin <= end <= data_len):
                raise ValueError("offsets outside the file")
            spans.append((begin, end))
        except (KeyError, TypeError, ValueError) as exc:
            out.append(Finding(rel, "high", "safetensors", f"tensor entry invalid ({exc})"))
            break
    spans.sort()
    if spans and (spans[0][0] != 0 or any(a[1] != b[0] for a, b in pairwise(spans))):
        out.append(Finding(rel, "high", "safetensors", "tensor data has gaps or overlaps"))
    return out, texts


def _scan_npy(rel: str, path: Source) -> list[Finding]:
    with _open(path) as fh:
        head = fh.read(10)
        major = head[6]
        hlen = struct.unpack("<H", head[8:10])[0] if major == 1 else \
            struct.unpack("<I", head[8:10] + fh.read(2))[0]
        try:
            meta = ast.literal_eval(fh.read(hlen).decode("latin-1"))
        except (ValueError, SyntaxError):
            return [Finding(rel, "high", "npy", "malformed .npy header")]
        if "O" in str(meta.get("descr", "")):
            return _pickle_findings(rel, fh.read())
    return []


# --- text ------------------------------------------------------------------------------------
_BYTE_DECODER: dict[str, int] | None = None


def _bytelevel_decode(token: str) -> str:
    """GPT-2 byte-level token (Ġhello) -> its text."""
    global _BYTE_DECODER
    if _BYTE_DECODER is None:
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
            list(range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        _BYTE_DECODER = {chr(c): b for b, c in zip(bs, cs, strict=True)}
    try:
        return bytes(_BYTE_DECODER[ch] for ch in token).decode("utf-8", "replace")
    except KeyError:
        return token


#: JSON keys whose values are identifiers (class names, dtypes, versions), not data
IDENT_KEYS = frozenset({"architectures", "model_type", "auto_map",
                        "processor_class", "dtype", "torch_dtype", "transformers_version",
                        "backend", "peft_type", "task_type", "target_modules", "library_name",
                        "_name_or_path", "base_model_name_or_path", "hidden_act", "format",
                        "model_class", "type", "revision", "peft_version"})


def _json_lines(obj: Any, out: list[str], limit: int = 2_000_000) -> None:
    """One "key: value" line per string leaf (the key gives secret detectors their context);
    identifier-valued keys are skipped."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack and len(out) < limit:
        key, o = stack.pop()
        if isinstance(o, str):
            if key not in IDENT_KEYS:
                out.append(f"{key}: {o}" if key else o)
        elif isinstance(o, dict):
            for k, v in o.items():
                stack.append((str(k), v))
        elif isinstance(o, list):
            stack.extend((key, v) for v in o)


def text_units(path: Source) -> tuple[str, list[str]]:
    """(sub-kind, strings to scan) of a text file; JSON is parsed so escapes are undone."""
    data = _read_all(path)[:MAX_TEXT_BYTES].decode("utf-8", "replace")
    stripped = data.lstrip()
    if stripped[:1] in "{[":
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("model"), dict) and \
                "vocab" in obj["model"]:
            vocab = obj["model"]["vocab"]
            tokens = list(vocab) if isinstance(vocab, dict) else [
                v[0] for v in vocab if isinstance(v, list) and v]
            units = [_bytelevel_decode(t) for t in tokens if isinstance(t, str)]
            units += [str(a.get("content", "")) for a in obj.get("added_tokens") or []]
            return "tokenizer-vocab", units  # one token per unit: no match across tokens
        if obj is not None:
            out: list[str] = []
            _json_lines(obj, out)
            return "json", ["\n".join(out)]
        lines_out: list[str] = []
        ok = True
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                _json_lines(json.loads(line), lines_out)
            except ValueError:
                ok = False
                break
        if ok:
            return "jsonl", ["\n".join(lines_out)]
    return "text", [data]


def base_vocabulary(model_dir: Path | None) -> frozenset[str]:
    """The tokens of a base model's ``tokenizer.json`` (decoded as the scan decodes them):
    a token the base model already had came with the pretrained model, not from the data."""
    path = Path(model_dir) / "tokenizer.json" if model_dir is not None else None
    if path is None or not path.is_file():
        return frozenset()
    sub, units = text_units(path)
    return frozenset(units) if sub == "tokenizer-vocab" else frozenset()


def _text_findings(rel: str, sub: str, units: list[str], scanner: Any,
                   inventory: Inventory | None, base_tokens: frozenset[str] = frozenset()
                   ) -> list[Finding]:
    """Findings in text units. In a tokenizer vocabulary: tokens of the base model's own
    vocabulary are skipped, and a token equal to a customer's *name or address* is reported
    (medium) but not gated: every pretrained vocabulary holds common given names (SmolLM2's
    holds Linda, Susan, Robert...), so such a token alone is no evidence. A phone number,
    ID or e-mail address as a token stays critical."""
    vocab = sub == "tokenizer-vocab"
    if vocab and base_tokens:
        units = [u for u in units if u not in base_tokens]
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for text, spans in zip(units, scanner.scan_many(units), strict=True):
        for span in spans:
            value = text[span.start : span.end]
            if (span.type, value) in seen:
                continue
            seen.add((span.type, value))
            in_inv = inventory is not None and inventory.match(span.type, value) is not None
            structured = span.type in STRUCTURED_TYPES and span.type != "SECRET"
            if vocab and not in_inv and not structured:
                continue
            if in_inv and vocab and not structured:
                sev, kind = "medium", "inventory-name-token"
            elif in_inv:
                sev, kind = "critical", "inventory-pii"
            elif span.type == "SECRET":
                sev, kind = "high", "secret"
            elif span.type in STRUCTURED_TYPES:
                sev, kind = "high", "pii"
            else:
                sev, kind = "medium", "pii"
            where = {"tokenizer-vocab": "in a tokenizer token"}.get(sub, f"in {sub} text")
            out.append(Finding(rel, sev, kind, f"{span.type} {mask_value(value)} {where}",
                               span.type))
    return out


# --- the walk --------------------------------------------------------------------------------
def iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _scan_source(rel: str, src: Source, size: int, head: bytes, scanner: Any,
                 inventory: Inventory | None, keyring: Any,
                 base_tokens: frozenset[str] = frozenset()) -> tuple[str, list[Finding]]:
    kind = sniff(head, size)
    found: list[Finding] = []
    if kind == "pickle":
        found = _pickle_findings(rel, _read_all(src))
    elif kind == "zip":
        kind, found = _scan_zip(rel, src)
    elif kind == "safetensors":
        found, meta = _scan_safetensors(rel, src, size)
        if meta:
            found += _text_findings(rel, "safetensors-metadata", meta, scanner, inventory)
    elif kind == "npy":
        found = _scan_npy(rel, src)
    elif kind == "text":
        sub, units = text_units(src)
        kind = sub
        found = _text_findings(rel, sub, units, scanner, inventory, base_tokens)
    elif kind == "sealed" and isinstance(src, Path):
        if keyring is None:
            found = [Finding(rel, "info", "sealed", "sealed file not opened (no keyring)")]
        elif size > MAX_SEALED_BYTES:
            found = [Finding(rel, "info", "sealed", "sealed file too large to open in memory")]
        else:
            from privtune.seal import SealError, read_sealed

            try:
                plain = read_sealed(src, keyring)  # in memory only: plaintext never on disk
            except SealError as exc:
                return kind, [Finding(rel, "high", "sealed", f"cannot be opened: {exc.message}")]
            inner, found = _scan_source(rel, plain, len(plain), plain[:65536], scanner,
                                        inventory, None, base_tokens)
            kind = f"sealed:{inner}"
    return kind, found


def scan_artifacts(roots: list[Path], scanner: Any, inventory: Inventory | None = None,
                   progress: Any = None, *, keyring: Any = None,
                   base_tokens: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Scan every file under ``roots``; never unpickle, never trust a file name. Sealed files
    (checkpoints) are opened in memory with ``keyring`` and scanned the same way.
    ``base_tokens``: the base model's vocabulary (:func:`base_vocabulary`)."""
    files: list[FileInfo] = []
    findings: list[Finding] = []
    for root in roots:
        base = root if root.is_dir() else root.parent
        for path in iter_files(root):
            rel = f"{root.name}/{path.relative_to(base)}" if root.is_dir() else path.name
            if path.is_symlink():
                findings.append(Finding(rel, "info", "symlink", "symbolic link, not followed"))
                continue
            size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(65536)
            kind, found = _scan_source(rel, path, size, head, scanner, inventory, keyring,
                                       base_tokens)
            files.append(FileInfo(rel, kind, size, len(found)))
            findings += found
            if progress:
                progress(1)
    counts = {s: sum(f.severity == s for f in findings)
              for s in ("critical", "high", "medium", "info")}
    return {"files": [asdict(f) for f in files], "findings": [f.to_dict() for f in findings],
            "counts": counts, "gated_findings": counts["critical"] + counts["high"]}
