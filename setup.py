"""Builds the C modules (the classifier's service/matching/_core.c, the near-copy path's
service/stories/_sketch.c and _segments.c, the language detector's service/_language.c);
everything else is in pyproject.toml."""

from setuptools import Extension, setup

_WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter"]

setup(
    ext_modules=[
        Extension("service.matching._core", ["service/matching/_core.c"],
                  extra_compile_args=["-O2", *_WARNINGS]),
        # -O3: the MinHash loop (permutations x shingles) is vectorised
        Extension("service.stories._sketch", ["service/stories/_sketch.c"],
                  extra_compile_args=["-O3", *_WARNINGS]),
        Extension("service.stories._segments", ["service/stories/_segments.c"],
                  extra_compile_args=["-O2", *_WARNINGS]),
        Extension("service._language", ["service/_language.c"],
                  extra_compile_args=["-O2", *_WARNINGS]),
    ]
)
