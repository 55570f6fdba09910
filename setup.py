"""Build script: compiles every ``nncodec/kernels/cython/*.pyx`` with Cython.

Environment switches:
  NNCODEC_NO_EXTENSIONS=1  build a pure-Python package (the reference backend only); says so loudly.
  NNCODEC_DEBUG_BUILD=1    bounds checks on, -O0 -g, asserts kept (for sanitizer and debugger runs).
  NNCODEC_SANITIZE=1       add -fsanitize=address,undefined (use with NNCODEC_DEBUG_BUILD=1).
  NNCODEC_NO_OPENMP=1      do not use OpenMP even if the compiler has it (the runtime kernels then run on one thread).
  NNCODEC_NATIVE=1         add -march=native (faster on the build machine; the result may not run on other CPUs,
                           so wheels are built without it).
  NNCODEC_BUILD_JOBS=N     compile N extensions at once (default: every core this process may use).
OpenMP is detected by compiling a tiny test program with -fopenmp; only the modules in OPENMP_MODULES use it, and
without it they build (serially) all the same.
A compile error fails the build: only the explicit switch gives a package without the Cython backend.
The C compiles (most of the build's time) run in parallel (build_ext's ``parallel`` option, set below, so that
``pip install -e .`` uses every core; ``python setup.py build_ext -j N`` still overrides it).
"""

import glob
import os
import sys

from setuptools import setup

NO_EXT = os.environ.get("NNCODEC_NO_EXTENSIONS") == "1"
DEBUG = os.environ.get("NNCODEC_DEBUG_BUILD") == "1"
SANITIZE = os.environ.get("NNCODEC_SANITIZE") == "1"
NO_OPENMP = os.environ.get("NNCODEC_NO_OPENMP") == "1"
NATIVE = os.environ.get("NNCODEC_NATIVE") == "1"
OPENMP_MODULES = {"nncodec.kernels.cython.spmm"}
OPENMP_TEST = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"


def openmp_flags():
    """Compile and link flags for OpenMP if a test program builds with -fopenmp, else None."""
    import shutil
    import tempfile
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.errors import CompileError, LinkError
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    tmp = tempfile.mkdtemp(prefix="nncodec-omp-")
    try:
        source = os.path.join(tmp, "omp_test.c")
        with open(source, "w") as f:
            f.write(OPENMP_TEST)
        objects = compiler.compile([source], output_dir=tmp, extra_postargs=["-fopenmp"])
        compiler.link_executable(objects, os.path.join(tmp, "omp_test"), extra_postargs=["-fopenmp"])
    except (CompileError, LinkError, OSError):
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ["-fopenmp"], ["-fopenmp"]


def build_jobs():
    """How many extensions to compile at once: NNCODEC_BUILD_JOBS, else the cores this process may run on."""
    if os.environ.get("NNCODEC_BUILD_JOBS"):
        return max(1, int(os.environ["NNCODEC_BUILD_JOBS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def extensions():
    from Cython.Build import cythonize
    from setuptools import Extension

    if DEBUG:
        cflags, directives = ["-O0", "-g3", "-UNDEBUG"], {"boundscheck": True, "wraparound": True}
    else:
        cflags, directives = ["-O3"], {"boundscheck": False, "wraparound": False}
    ldflags = []
    if SANITIZE:
        cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        ldflags += ["-fsanitize=address,undefined"]
    if NATIVE:
        cflags += ["-march=native"]
    omp = None if NO_OPENMP else openmp_flags()
    print(f"nncodec: OpenMP {'enabled' if omp else 'not available or disabled'} for {sorted(OPENMP_MODULES)}",
          file=sys.stderr)
    modules = []
    for path in sorted(glob.glob(os.path.join("nncodec", "kernels", "cython", "*.pyx"))):
        name = path[:-4].replace(os.sep, ".")
        extra_c, extra_l = omp if (omp and name in OPENMP_MODULES) else ([], [])
        modules.append(Extension(name, [path], extra_compile_args=cflags + extra_c,
                                 extra_link_args=ldflags + extra_l))
    directives.update({"language_level": 3, "cdivision": True, "embedsignature": True,
                       "initializedcheck": False})
    return cythonize(modules, compiler_directives=directives, quiet=True)


if NO_EXT:
    print("*" * 72 + "\nNNCODEC_NO_EXTENSIONS=1: building WITHOUT the Cython backend\n" + "*" * 72, file=sys.stderr)
    setup(ext_modules=[])
else:
    setup(ext_modules=extensions(), options={"build_ext": {"parallel": build_jobs()}})
