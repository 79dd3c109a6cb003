/**
 * deployment.py as UbiOps imports it. Standard library only: UbiOps installs requirements.txt
 * before the first request, but nothing here should depend on pip. The Node server is started
 * once per instance in __init__ and each request is forwarded to it over loopback HTTP, so the
 * same server that `mlx serve` runs answers, with the same validation and error messages.
 */
export const DEPLOYMENT_PY = String.raw`"""UbiOps entry point written by mlx: do not edit, re-run "mlx package --target ubiops".

__init__ starts the bundled mlx server (app/server.mjs) on a free loopback port with Node.js and
waits until its models are loaded; request() maps the UbiOps fields to the endpoint's HTTP input
and returns the output fields; requests() does the same for a batch (a list in, a list out). Settings are in mlx_ubiops.json; environment variables override:

  MLX_NODE            the node executable (default: node on PATH, then /usr/bin/node, /usr/local/bin/node)
  MLX_ENDPOINT        serve another endpoint of the same zip (its specs are <endpoint>_*_spec.json)
  MLX_READY_TIMEOUT   seconds to wait for the models to load
  MLX_REQUEST_TIMEOUT seconds per request
"""
import atexit
import base64
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

MIN_NODE = (20, 11)


class InputError(ValueError):
    """The request's data does not fit the endpoint's input (UbiOps shows the message to the caller)."""


def _find_node(base_directory):
    explicit = os.environ.get("MLX_NODE")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise RuntimeError("MLX_NODE=%s is not an executable file" % explicit)
        return explicit
    candidates = [shutil.which("node"), os.path.join(base_directory, "node", "bin", "node"), "/usr/bin/node", "/usr/local/bin/node"]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise RuntimeError(
        "Node.js was not found (looked for MLX_NODE, node on PATH, /usr/bin/node, /usr/local/bin/node). "
        "ubiops.yaml installs it from NodeSource when UbiOps builds the environment: check the build logs, "
        "or set MLX_NODE to a node binary."
    )


def _node_version(node):
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        return tuple(int(p) for p in out.lstrip("v").split(".")[:2]), out
    except ValueError:
        return (0, 0), out


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Pump(threading.Thread):
    """Copies the server's output to ours (UbiOps logs it) and keeps the last lines for errors."""

    def __init__(self, stream, sink, tail):
        super().__init__(daemon=True)
        self.stream, self.sink, self.tail = stream, sink, tail

    def run(self):
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.tail.append(line)
            try:
                self.sink.write("[mlx] " + line + "\n")
                self.sink.flush()
            except Exception:
                pass


class Deployment:
    def __init__(self, base_directory, context=None):
        context = context or {}
        with open(os.path.join(base_directory, "mlx_ubiops.json"), encoding="utf-8") as f:
            self.config = json.load(f)
        name = os.environ.get("MLX_ENDPOINT") or self.config["endpoint"]
        endpoints = self.config["endpoints"]
        if name not in endpoints:
            raise RuntimeError("MLX_ENDPOINT=%s is not an endpoint of this package (it has: %s)" % (name, ", ".join(sorted(endpoints))))
        self.plan = endpoints[name]
        self.fields = {f["name"]: f["data_type"] for f in self.plan["input_fields"]}
        app = os.path.join(base_directory, self.config["bundle"])
        node = _find_node(base_directory)
        version, text = _node_version(node)
        if version < MIN_NODE:
            raise RuntimeError("%s is Node.js %s; the mlx server needs %d.%d or newer (ubiops.yaml installs it)" % (node, text or "?", MIN_NODE[0], MIN_NODE[1]))
        port = _free_port()
        self.url = "http://127.0.0.1:%d" % port
        env = dict(os.environ, PORT=str(port), HOST="127.0.0.1", NODE_ENV="production")
        self.tail = collections.deque(maxlen=40)
        print("mlx: starting %s (%s %s) for %s version %s, endpoint %s %s" % (
            self.config.get("name"), node, text, context.get("deployment", "?"), context.get("version", "?"), self.plan["method"], self.plan["path"]), flush=True)
        self.process = subprocess.Popen([node, "server.mjs"], cwd=app, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _Pump(self.process.stdout, sys.stdout, self.tail).start()
        _Pump(self.process.stderr, sys.stderr, self.tail).start()
        atexit.register(self.close)
        timeout = float(os.environ.get("MLX_READY_TIMEOUT") or self.config.get("ready_timeout", 300))
        self.request_timeout = float(os.environ.get("MLX_REQUEST_TIMEOUT") or self.config.get("request_timeout", 300))
        self._wait_ready(timeout)

    def _wait_ready(self, timeout):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise RuntimeError("the mlx server exited with code %s while loading:\n%s" % (self.process.returncode, self._tail()))
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        print("mlx: ready on %s" % self.url, flush=True)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError("the mlx server was not ready within %ss (set MLX_READY_TIMEOUT to wait longer):\n%s" % (timeout, self._tail()))

    def _tail(self):
        time.sleep(0.1)  # let the pumps catch the last lines
        return "\n".join(self.tail)

    def close(self):
        p = getattr(self, "process", None)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    # -- request -----------------------------------------------------------------------------

    def _value(self, name, value):
        kind = self.fields[name]
        if name in self.plan["json_fields"]:
            if not isinstance(value, str):
                return value
            try:
                return json.loads(value)
            except ValueError as e:
                raise InputError("input field '%s' must be JSON text: %s" % (name, e))
        if kind == "file":
            return self._file(name, value)
        if kind == "array_file":
            if not isinstance(value, list):
                raise InputError("input field '%s' must be a list of files" % name)
            return [self._file("%s[%d]" % (name, i), v) for i, v in enumerate(value)]
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError("input field '%s' must be an integer, got %r" % (name, value))
        if kind == "double" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError("input field '%s' must be a number, got %r" % (name, value))
        if kind == "bool" and not isinstance(value, bool):
            raise InputError("input field '%s' must be true or false, got %r" % (name, value))
        if kind == "string" and not isinstance(value, str):
            raise InputError("input field '%s' must be a string, got %r" % (name, value))
        return value

    @staticmethod
    def _file(name, path):
        # UbiOps downloads file fields and passes their local path.
        if not isinstance(path, str) or not os.path.isfile(path):
            raise InputError("input field '%s' must be a file; %r is not a readable file" % (name, path))
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode("ascii")

    def _http(self, data):
        plan = self.plan
        if not isinstance(data, dict):
            raise InputError("the input must be a dictionary of fields (%s), got %s" % (", ".join(self.fields) or "none", type(data).__name__))
        unknown = [k for k in data if k not in self.fields]
        if unknown:
            raise InputError("unknown input field(s): %s (this deployment takes: %s)" % (", ".join(sorted(unknown)), ", ".join(self.fields) or "none"))
        missing = [n for n in plan["required"] if data.get(n) is None]
        if missing:
            raise InputError("input field(s) missing: %s" % ", ".join(missing))
        values = {k: self._value(k, v) for k, v in data.items() if v is not None}
        url, body = self.url + plan["path"], None
        if plan["body"] == "query":
            q = {k: (json.dumps(v) if isinstance(v, (list, dict)) else str(v).lower() if isinstance(v, bool) else v) for k, v in values.items()}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        elif plan["body"] == "rows_key":
            body = {plan["rows_key"]: [values]}
        elif plan["body"] != "none":
            body = values
        headers = {"Accept": "application/json"}
        raw = None
        if body is not None:
            raw = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(url, data=raw, headers=headers, method=plan["method"])

    def request(self, data, context=None):
        req = self._http(data)
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as r:
                result = json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            message = _problem(text)
            if 400 <= e.code < 500:
                raise InputError("bad input (HTTP %d): %s" % (e.code, message))
            raise RuntimeError("the model server failed (HTTP %d): %s" % (e.code, message))
        except (urllib.error.URLError, OSError) as e:
            if self.process.poll() is not None:
                raise RuntimeError("the mlx server has exited (code %s):\n%s" % (self.process.returncode, self._tail()))
            raise RuntimeError("the mlx server did not answer: %s" % e)
        return self._output(result)

    def requests(self, data, context=None):
        # UbiOps calls this for a list body (batch requests): one result per item, in order. A bad
        # item fails the whole batch with its index, as UbiOps reports a batch as one request.
        if not isinstance(data, list):
            return self.request(data, context)
        results = []
        for i, item in enumerate(data):
            try:
                results.append(self.request(item, context))
            except InputError as e:
                raise InputError("item %d of the batch: %s" % (i, e))
        return results

    def _output(self, result):
        fields = self.plan["output_fields"]
        if self.plan["output"] == "single":
            name = fields[0]["name"]
            return {name: json.dumps(result) if name in self.plan["json_fields"] else result}
        if not isinstance(result, dict):
            raise RuntimeError("the endpoint answered %s, not an object with %s" % (type(result).__name__, ", ".join(f["name"] for f in fields)))
        out = {}
        for f in fields:
            v = result.get(f["name"])
            out[f["name"]] = json.dumps(v) if f["name"] in self.plan["json_fields"] else v
        return out


def _problem(text):
    """The server's error body (FastAPI-style detail, or problem+json) as one line."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        return "; ".join("%s: %s" % (".".join(str(p) for p in d.get("loc", [])[1:]) or "body", d.get("msg", "")) for d in detail if isinstance(d, dict))
    if isinstance(body, dict):
        return str(detail or body.get("title") or body.get("message") or body.get("error") or text)[:500]
    return text[:500]
`
