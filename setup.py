"""Build script: compiles every ``nncodec/_cy/*.pyx`` with Cython.

Environment switches:
  NNCODEC_NO_EXTENSIONS=1  build a pure-Python package (the reference backend only); says so loudly.
  NNCODEC_DEBUG_BUILD=1    bounds checks on, -O0 -g, asserts kept (for sanitizer and debugger runs).
  NNCODEC_SANITIZE=1       add -fsanitize=address,undefined (use with NNCODEC_DEBUG_BUILD=1).
A compile error fails the build: only the explicit switch gives a package without the Cython backend.
"""

import glob
import os
import sys

from setuptools import setup

NO_EXT = os.environ.get("NNCODEC_NO_EXTENSIONS") == "1"
DEBUG = os.environ.get("NNCODEC_DEBUG_BUILD") == "1"
SANITIZE = os.environ.get("NNCODEC_SANITIZE") == "1"


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
    modules = []
    for path in sorted(glob.glob(os.path.join("nncodec", "_cy", "*.pyx"))):
        name = path[:-4].replace(os.sep, ".")
        modules.append(Extension(name, [path], extra_compile_args=cflags, extra_link_args=ldflags))
    directives.update({"language_level": 3, "cdivision": True, "embedsignature": True,
                       "initializedcheck": False})
    return cythonize(modules, compiler_directives=directives, quiet=True)


if NO_EXT:
    print("*" * 72 + "\nNNCODEC_NO_EXTENSIONS=1: building WITHOUT the Cython backend\n" + "*" * 72, file=sys.stderr)
    setup(ext_modules=[])
else:
    setup(ext_modules=extensions())
