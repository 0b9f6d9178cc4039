"""Capture shim of kit-hera (`cargo xtask`).

Runs a Hera script the way `python script.py` run from the script's folder would, but
records the workflows it builds instead of sending them: Workflow/WorkflowTemplate/
ClusterWorkflowTemplate/CronWorkflow hand-over methods record `to_dict()`, and every
WorkflowsService/EventsService call raises. The result goes, as JSON, to the file named by
XTASK_HERA_RESULT (stdout and stderr belong to the script).

Usage: python capture.py SCRIPT
Environment: XTASK_HERA_RESULT (result file), XTASK_HERA_NEEDED (Hera version wanted),
XTASK_HERA_MATCH ("exact", or "compatible": same major version, not older).
"""

import json
import os
import re
import runpy
import site
import sys
import sysconfig
import traceback

RESULT = os.environ.pop("XTASK_HERA_RESULT", "")
NEEDED = os.environ.pop("XTASK_HERA_NEEDED", "")
MATCH = os.environ.pop("XTASK_HERA_MATCH", "exact")
SHIM = os.path.realpath(__file__)
SHIM_DIR = os.path.dirname(SHIM)

# Calls that hand a workflow over to a cluster; each is recorded instead.
HANDOVER_CALLS = ("create", "submit", "lint", "update")
WORKFLOW_CLASSES = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
# Services whose methods would talk to the Argo server. `close` only closes a session.
SERVICES = (("hera.workflows.service", "WorkflowsService"), ("hera.events.service", "EventsService"))
SERVICE_HARMLESS = ("close",)


class CaptureOnlyError(RuntimeError):
    """Raised by every service call: nothing is sent to a cluster while capturing."""


def finish(result, code=0):
    # Written to a side file then renamed: a reader never sees half a result.
    tmp = RESULT + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, RESULT)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    # Skips waiting for threads the script left running and its atexit handlers.
    os._exit(code)


def numbers(version):
    found = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version or "")
    if not found:
        return None
    return tuple(int(part or 0) for part in found.groups())


def version_fits(found, needed, match):
    if match == "exact" or not needed:
        return found == needed or not needed
    have, want = numbers(found), numbers(needed)
    return have is not None and want is not None and have[0] == want[0] and have >= want


def hera_version(hera):
    version = getattr(hera, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib import metadata
    except ImportError:
        return "unknown"
    for dist in ("hera", "hera-workflows"):
        try:
            return metadata.version(dist)
        except Exception:
            pass
    return "unknown"


def import_hera():
    """Returns (hera.workflows module, version) or finishes with an error result."""
    try:
        import hera
    except ImportError as err:
        finish({"error": {"kind": "hera_missing", "message": f"{type(err).__name__}: {err}"}})
    version = hera_version(hera)
    try:
        import hera.workflows as workflows
    except ImportError as err:
        # Hera 4 has no hera.workflows: a version question, not a missing package.
        if numbers(version) and numbers(version)[0] < 5:
            finish({"hera_version": version, "error": {"kind": "hera_version", "found": version}})
        finish({"hera_version": version, "error": {"kind": "hera_missing", "message": f"{type(err).__name__}: {err}"}})
    if not version_fits(version, NEEDED, MATCH):
        finish({"hera_version": version, "error": {"kind": "hera_version", "found": version}})
    return workflows, version


captured = []
# Objects, not ids: an id can be reused once its object is freed.
handed = []
built = []


def was_handed(obj):
    return any(other is obj for other in handed)


def entry(manifest, call):
    metadata = manifest.get("metadata") or {}
    return {
        "kind": manifest.get("kind") or "",
        "name": metadata.get("name") or metadata.get("generateName") or "",
        "call": call,
        "manifest": manifest,
    }


def handover(call):
    def record(self, *args, **kwargs):
        captured.append(entry(self.to_dict(), call))
        handed.append(self)
        # The built model, so code such as `w.create().metadata` keeps working.
        return self.build()

    record.__name__ = call
    return record


def quiet_wait(self, *args, **kwargs):
    # Nothing was submitted, so there is nothing to wait for.
    return self.build()


def tracking_exit(original):
    def exit_(self, *exc):
        result = original(self, *exc)
        # Only a block that ended cleanly; identity check as a subclass may wrap it again.
        if (not exc or exc[0] is None) and not any(other is self for other in built):
            built.append(self)
        return result

    exit_.xtask_tracking = True
    return exit_


def refuse(owner, name):
    def refused(*args, **kwargs):
        raise CaptureOnlyError(
            f"{owner}.{name} was called, but `cargo xtask` only captures the workflows this "
            f"script builds and sends nothing to a cluster; hand a workflow over with "
            f"w.create() (it is captured) instead of calling {owner} directly"
        )

    refused.__name__ = name
    return refused


def patch(workflows):
    for class_name in WORKFLOW_CLASSES:
        cls = getattr(workflows, class_name, None)
        if cls is None:
            continue
        for call in HANDOVER_CALLS:
            if hasattr(cls, call):
                setattr(cls, call, handover(call))
        if hasattr(cls, "wait"):
            cls.wait = quiet_wait
        # __exit__ comes from a mixin shared by the four classes: wrapped once.
        original = getattr(cls, "__exit__", None)
        if original is not None and not getattr(original, "xtask_tracking", False):
            cls.__exit__ = tracking_exit(original)
    for module_name, class_name in SERVICES:
        try:
            module = __import__(module_name, fromlist=[class_name])
        except ImportError:
            continue
        cls = getattr(module, class_name, None)
        if cls is None:
            continue
        for name in dir(cls):
            if name.startswith("_") or name in SERVICE_HARMLESS:
                continue
            if callable(getattr(cls, name, None)):
                setattr(cls, name, refuse(class_name, name))


def library_dirs():
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.realpath(path))
    try:
        dirs.update(os.path.realpath(p) for p in site.getsitepackages())
    except Exception:
        pass
    try:
        dirs.add(os.path.realpath(site.getusersitepackages()))
    except Exception:
        pass
    dirs.add(SHIM_DIR)
    return dirs


def is_own(filename, libs):
    """A frame of the script or of its own modules (not Python's, Hera's or the shim's)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    return not any(path == d or path.startswith(d + os.sep) for d in libs)


def shown(path, folder):
    try:
        rel = os.path.relpath(os.path.realpath(path), folder)
    except ValueError:
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


def describe(err, script, folder):
    libs = library_dirs()
    frames = traceback.extract_tb(err.__traceback__)
    # The frames of this shim and runpy come before the script's own: never shown.
    real_script = os.path.realpath(script)
    for index, frame in enumerate(frames):
        if frame.filename and os.path.realpath(frame.filename) == real_script:
            frames = frames[index:]
            break
    else:
        # Raised before the script ran (a SyntaxError): Python shows no frame either.
        frames = []
    lines = ["Traceback (most recent call last):\n"] if frames else []
    hidden = 0
    own = []
    for frame in frames:
        if is_own(frame.filename, libs):
            if hidden:
                lines.append(f"  [{hidden} frame{'s' if hidden > 1 else ''} of Python or Hera not shown]\n")
                hidden = 0
            lines.extend(traceback.format_list([frame]))
            own.append(frame)
        else:
            hidden += 1
    if hidden and own:
        lines.append(f"  [{hidden} frame{'s' if hidden > 1 else ''} of Python or Hera not shown]\n")
    if frames and not own:
        lines = ["Traceback (most recent call last):\n"] + traceback.format_list(frames)
    lines.extend(traceback.format_exception_only(type(err), err))
    text = "".join(lines)

    file, line = script, None
    if isinstance(err, SyntaxError) and err.filename and is_own(err.filename, libs):
        file, line = err.filename, err.lineno
    elif own:
        file, line = own[-1].filename, own[-1].lineno
    text_of = err.msg if isinstance(err, SyntaxError) and err.msg else str(err)
    message = text_of.strip().splitlines()[0] if text_of.strip() else ""
    name = type(err).__qualname__
    where = shown(file, folder) + (f":{line}" if line else "")
    summary = f"{where}: {name}: {message}" if message else f"{where}: {name}"
    return {
        "kind": "script",
        "type": name,
        "message": str(err),
        "traceback": text,
        "summary": summary,
        "file": file,
        "line": line,
    }


def main():
    if len(sys.argv) != 2 or not RESULT:
        sys.stderr.write("usage: XTASK_HERA_RESULT=FILE python capture.py SCRIPT\n")
        sys.exit(2)
    workflows, version = import_hera()
    patch(workflows)

    script = os.path.abspath(sys.argv[1])
    folder = os.path.dirname(script)
    # As `python script.py` from the script's folder: argv, sys.path[0], working directory.
    sys.argv = [script]
    if sys.path and os.path.realpath(sys.path[0] or ".") == SHIM_DIR:
        sys.path[0] = folder
    else:
        sys.path.insert(0, folder)
    os.chdir(folder)

    error = None
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as err:
        if err.code not in (None, 0):
            error = describe(err, script, folder)
    except BaseException as err:  # noqa: B902 - report everything, KeyboardInterrupt included
        error = describe(err, script, folder)

    if error is not None:
        finish({"hera_version": version, "error": error}, 0)
    for obj in built:
        if not was_handed(obj):
            handed.append(obj)
            try:
                captured.append(entry(obj.to_dict(), "built"))
            except Exception as err:  # a half-made workflow the script never used
                error = describe(err, script, folder)
                finish({"hera_version": version, "error": error}, 0)
    finish({"hera_version": version, "workflows": captured}, 0)


if __name__ == "__main__":
    main()
