"""The Python side of a web-python app's worker.

js/templates/hypha-app-webpython.js runs this once Pyodide is up and the hypha-rpc wheels are
installed, then says hyphaClientReady. hypha-rpc's setup_local_client waits for the page's
`initializeHyphaClient`, connects back to the page and calls `run_plugin(server, config)` with
the parsed plugin as `config`: its requirements are installed, then its
`<script lang="python">` blocks run with `api` (the connected client), and `imjoy`,
`imjoy_rpc` and `hypha_rpc` importable as the API, as in hypha-core and ImJoy. A failure is
reported to the page (`hyphaAppError`) with the Python error message, so loadApp fails at once.
`js.hyphaWebPython` is the template's side: the shipped wheels, progress and error reports.
"""

import ast
import asyncio
import importlib.abc
import inspect
import re
import sys
import traceback
import types

import js
from pyodide.ffi import to_js

import hypha_rpc
from hypha_rpc import setup_local_client

# Import name -> project of packages plugins often use that are compiled (C/C++/Fortran/Rust):
# PyPI has only CPython binary wheels of them and npm none, so they cannot run here offline.
COMPILED = {
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "h5py": "h5py",
    "lxml": "lxml",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "pydantic_core": "pydantic-core",
    "yaml": "pyyaml",
}
COMPILED_PROJECTS = set(COMPILED.values())
# How long micropip may try PyPI for requirements the build does not ship.
PYPI_TIMEOUT_S = 50


def compiled_reason(project):
    return (
        f"{project} is a compiled package: PyPI has only CPython binary wheels of it and no "
        "WebAssembly build, so it cannot run in a web-python app here (pure-Python packages only)"
    )


class CompiledPackageFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: turns "No module named 'numpy'" into why it is missing."""

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if path is None and top in COMPILED:
            raise ModuleNotFoundError(f"No module named '{top}': {compiled_reason(COMPILED[top])}", name=top)
        return None


def project_name(requirement):
    """The PEP 503 normalized project of a requirement such as `six>=1.16; python_version>'3'`."""
    name = re.split(r"[\s<>=!~;\[@(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


async def install_requirements(requirements):
    """Shipped wheels first; the rest from PyPI through micropip, or a clear error."""
    wanted = {}
    for requirement in requirements:
        if not isinstance(requirement, str) or not requirement.strip():
            raise ValueError(f"a requirement must be a package name, not {requirement!r}")
        wanted[project_name(requirement)] = requirement.strip()
    compiled = [wanted[name] for name in wanted if name in COMPILED_PROJECTS]
    if compiled:
        raise ImportError("; ".join(compiled_reason(project_name(r)) for r in compiled))
    missing = list((await js.hyphaWebPython.installShipped(to_js(list(wanted)))).to_py())
    if not missing:
        return
    missing = [wanted[name] for name in missing]
    js.hyphaWebPython.progress(f"installing {', '.join(missing)} from PyPI", 90)
    try:
        await js.hyphaWebPython.installShipped(to_js(["packaging", "micropip"]))
        import micropip

        await asyncio.wait_for(micropip.install(missing), PYPI_TIMEOUT_S)
    except BaseException as error:  # micropip raises plain Exceptions, and JS errors too
        shipped = ", ".join(js.hyphaWebPython.shipped.to_py()) or "none"
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise ImportError(
            f"cannot install {', '.join(missing)}: not among the wheels this build ships "
            f"(besides hypha-rpc's: {shipped}), and PyPI could not provide it ({reason})"
        ) from None


def describe(error, filename_prefix):
    """`Type: message (line N of <script>)`: what loadApp's caller sees."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(filename_prefix)]
    if frames:
        text += f" (line {frames[-1].lineno} of {frames[-1].filename})"
    return text


async def run_plugin(server, config):
    name = str(config.get("name") or "web-python app")
    prefix = f"<{name} script"
    try:
        requirements = config.get("requirements") or []
        if isinstance(requirements, str):
            requirements = [requirements]
        if requirements:
            js.hyphaWebPython.progress("installing requirements", 85)
            await install_requirements(list(requirements))
        hypha_rpc.api = server
        legacy = types.ModuleType("imjoy_rpc")
        legacy.api = server
        sys.modules["imjoy"] = legacy
        sys.modules["imjoy_rpc"] = legacy
        for index, script in enumerate(config.get("scripts") or []):
            lang = str(script.get("lang") or "python").lower()
            if lang not in ("python", "py"):
                raise ValueError(f'a web-python plugin runs <script lang="python"> only, not lang="{lang}"')
            filename = f"{prefix} {index + 1}>"
            # Line 1 is the first line after `<script lang="python">`, as the author counts.
            source = re.sub(r"^[ \t]*\r?\n", "", script.get("content") or "", count=1)
            code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            scope = {
                "__name__": "__main__",
                "api": server,
                "imjoy": hypha_rpc,
                "imjoy_rpc": hypha_rpc,
                "hypha_rpc": hypha_rpc,
            }
            result = eval(code, scope)
            if inspect.isawaitable(result):
                await result
        js.hyphaWebPython.progress("running", 100)
    except BaseException as error:
        traceback.print_exception(error)
        js.hyphaWebPython.report(describe(error, prefix))


sys.meta_path.append(CompiledPackageFinder())
# Assigned, not the last expression: runPythonAsync would await the future it returns (it
# resolves only once the page has connected), and the template says hyphaClientReady after this.
connected = setup_local_client(enable_execution=False, on_ready=run_plugin)
