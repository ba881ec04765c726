"""The Kata request fixtures of tests/data/kata-requests/ (format: that directory's README.md),
turned into protobuf messages of our init/agent/proto/*.proto, call by call.

    import kata_requests as kr
    fx = kr.load("plain-pod", "go", IMAGE="10.0.2.100:5000/demo/app:latest")
    for call in fx.calls:
        if call.optional:
            continue
        msg = call.message()        # raises MissingMessage if our protos lack the type
        ...                         # send it: client.call(call.service, call.method, msg)

Placeholders: a string that is exactly "${NAME}" takes the value itself (an int stays an int, a
list inside a list is spliced into it); "${NAME}" inside a longer string is replaced by the
value's text; "${b64url:NAME}" by the URL-safe base64 of that text. Values come from the
keyword arguments, else from the fixture's "defaults".
"""
import base64
import copy
import glob
import json
import os
import re

import client as tt

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data", "kata-requests")
FORMAT = 1
_PH = re.compile(r"\$\{(b64url:)?([A-Z][A-Z0-9_]*)\}")
MODES = ("call", "park", "stream", "after_eof", "concurrent")


class MissingMessage(Exception):
    """The fixture names a request message that our .proto files do not define."""


class FixtureError(Exception):
    """A fixture that breaks the format, or a placeholder without a value."""


def _text(v):
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def _sub_str(s, values, where):
    def one(m):
        name = m.group(2)
        if name not in values:
            raise FixtureError(f"{where}: no value for ${{{name}}}")
        t = _text(values[name])
        return base64.urlsafe_b64encode(t.encode()).decode() if m.group(1) else t
    whole = _PH.fullmatch(s)
    if whole and not whole.group(1):
        if whole.group(2) not in values:
            raise FixtureError(f"{where}: no value for {s}")
        return copy.deepcopy(values[whole.group(2)])
    return _PH.sub(one, s)


def substitute(obj, values, where="fixture"):
    """obj with every placeholder replaced (see the module's documentation)."""
    if isinstance(obj, str):
        return _sub_str(obj, values, where)
    if isinstance(obj, dict):
        return {k: substitute(v, values, where) for k, v in obj.items()}
    if isinstance(obj, list):
        out = []
        for v in obj:
            if isinstance(v, str) and _PH.fullmatch(v) and isinstance(
                    values.get(_PH.fullmatch(v).group(2)), list):
                out.extend(_sub_str(v, values, where))
            else:
                out.append(substitute(v, values, where))
        return out
    return obj


def placeholders(obj):
    """The names of every placeholder in obj."""
    return set(m.group(2) for m in _PH.finditer(json.dumps(obj)))


class Call:
    """One call of a fixture, placeholders filled."""

    def __init__(self, raw, values, where):
        for k in ("method", "message", "request"):
            if k not in raw:
                raise FixtureError(f"{where}: no '{k}'")
        self.raw = raw
        self.step = raw.get("step")
        self.service = raw.get("service", "grpc.AgentService")
        self.method = raw["method"]
        self.message_name = raw["message"]
        self.mode = raw.get("mode", "call")
        if self.mode not in MODES:
            raise FixtureError(f"{where}: unknown mode {self.mode!r}")
        self.optional = raw.get("optional")
        self.on_error = raw.get("on_error", "fatal")
        self.note = raw.get("note", "")
        req = substitute(raw["request"], values, where)
        for field, text in substitute(raw.get("bytes", {}), values, where).items():
            data = text.encode()
            req[field] = base64.b64encode(data).decode()
            for size_field, of in raw.get("size_of", {}).items():
                if of == field:
                    req[size_field] = len(data)
        self.request = req

    def message(self, pb=None):
        """The request as an instance of our protobuf class (json_format, unknown fields
        refused)."""
        from google.protobuf import json_format
        pb = pb or tt.load_protos()
        pkg, _, name = self.message_name.partition(".")
        mod = {"grpc": (pb.agent, pb.health, pb.oci)}.get(pkg, ())
        cls = next((getattr(m, name) for m in mod if hasattr(m, name)), None)
        if cls is None:
            raise MissingMessage(f"{self.message_name} (for {self.service}/{self.method}) is "
                                 "not in init/agent/proto")
        return json_format.ParseDict(self.request, cls())

    def __repr__(self):
        return f"Call({self.step}: {self.service}/{self.method}, {self.mode})"


class Fixture:
    def __init__(self, path, **values):
        with open(path) as f:
            self.doc = json.load(f)
        if self.doc.get("format") != FORMAT:
            raise FixtureError(f"{path}: format {self.doc.get('format')!r}, want {FORMAT}")
        self.path = path
        self.scenario, self.shim = self.doc["scenario"], self.doc["shim"]
        self.values = dict(self.doc.get("defaults", {}))
        self.values.update(values)
        name = os.path.basename(path)
        self.calls = [Call(c, self.values, f"{name} step {c.get('step')}")
                      for c in self.doc["calls"]]
        self.periodic = [Call(c, self.values, f"{name} periodic") for c in self.doc["periodic"]]

    def by_method(self, method):
        return [c for c in self.calls if c.method == method]


def path(scenario, shim):
    return os.path.join(DATA, f"{scenario}.{shim}.json")


def load(scenario, shim, **values):
    return Fixture(path(scenario, shim), **values)


def all_paths():
    return sorted(glob.glob(os.path.join(DATA, "*.json")))
