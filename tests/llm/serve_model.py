"""Runs llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server ARGS…`) with the
CPU backend's weight-repacking buffers off.

On this project's CI machines (x86 VMs advertising AVX-512/AMX) the repacked kernels that
llama.cpp picks for prompts longer than a token die with a general protection fault in
libggml-cpu; without repacking the plain kernels run (a little slower). llama.cpp's own
CLI has `--no-repack` for this; llama-cpp-python's server has no flag, so the default model
parameters are patched before the server builds the model.
"""

import sys

import llama_cpp.llama as llama_module

_default_params = llama_module.llama_cpp.llama_model_default_params


def _without_repacking():
    params = _default_params()
    params.use_extra_bufts = False
    return params


llama_module.llama_cpp.llama_model_default_params = _without_repacking

from llama_cpp.server.__main__ import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    sys.argv[0] = "llama_cpp.server"
    main()
