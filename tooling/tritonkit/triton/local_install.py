"""Where the `nvidia-pytriton` wheel keeps tritonserver, and the backend directory we lay out for it.

The wheel ships the server, its Python backend and one Python stub per Python version, but no
native ONNX Runtime backend; ours (backends/onnxruntime/model.py) takes that name.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tritonkit.errors import InputError

_OUR_BACKENDS = Path(__file__).parent / "backends"


@dataclass(frozen=True)
class TritonInstall:
    root: Path  # pytriton/tritonserver
    libs: Path  # nvidia_pytriton.libs: shared libraries the binary and the stub need

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def python_backend(self) -> Path:
        return self.root / "backends" / "python"

    @property
    def stub(self) -> Path:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return self.root / "python_backend_stubs" / version / "triton_python_backend_stub"

    @property
    def cache_dir(self) -> Path:
        return self.root / "caches"


def find_install() -> TritonInstall:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the package nvidia-pytriton is not installed: it provides the local tritonserver")
    package = Path(next(iter(spec.submodule_search_locations)))
    install = TritonInstall(root=package / "tritonserver", libs=package.parent / "nvidia_pytriton.libs")
    for required in (install.binary, install.python_backend / "libtriton_python.so", install.stub, install.libs):
        if not required.exists():
            raise InputError(f"nvidia-pytriton is incomplete: {required} is missing (Python {sys.version.split()[0]})")
    return install


def lay_out_backends(install: TritonInstall, backend_dir: Path) -> None:
    """`python/` = the wheel's backend + the stub for this Python; `onnxruntime/model.py` = ours.

    Copies, not symlinks: Triton refuses backend files whose real path leaves the backend directory.
    """
    python_dir = backend_dir / "python"
    python_dir.mkdir(parents=True)
    for source in (
        install.python_backend / "libtriton_python.so",
        install.python_backend / "triton_python_backend_utils.py",
        install.stub,
    ):
        shutil.copy2(source, python_dir)
    for backend in _OUR_BACKENDS.iterdir():
        if (backend / "model.py").is_file():
            (backend_dir / backend.name).mkdir()
            shutil.copy2(backend / "model.py", backend_dir / backend.name)


def server_environment(install: TritonInstall) -> dict[str, str]:
    """The stub embeds the system's libpython, which ignores PYTHONPATH but derives its prefix from
    the first `python3` on PATH: putting this interpreter's directory first makes the stub see this
    environment's packages (numpy, onnxruntime) through the venv's pyvenv.cfg."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(install.libs), env.get("LD_LIBRARY_PATH")]))
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")]))
    return env
