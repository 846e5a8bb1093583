"""Which structured-generation library masks the embedded model's logits fastest?

For the judge's critic schema (annotators/styles/critic.py, 5 steps) and the embedded model's
tokenizer, each installed library compiles the schema, then walks the tokens of one valid
answer computing the allowed-token mask before each token (what a logits processor does at every
decoding step). Prints compile time, mean mask time per token and whether the library accepts
the answer. Libraries that are not installed are reported as such. One run::

    PYTHONPATH=. python benchmarks/constrained_libs.py

xgrammar and lm-format-enforcer are not dependencies of stepforge; to measure them, install them
into a side folder (``pip install --no-deps --target /tmp/cg xgrammar apache-tvm-ffi
lm-format-enforcer interegular``) and pass ``--extra-path /tmp/cg``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

N_STEPS, CHARS = 5, 60


def answer() -> str:
    steps = [{"step": k, "reasoning": f"step {k} recomputes 3 + {k} = {3 + k}, which holds",
              "verdict": "correct" if k < 4 else "incorrect"} for k in range(1, N_STEPS + 1)]
    return json.dumps({"steps": steps, "first_error": 4})


def bench_llguidance(tok, schema: str, ids: list[int]) -> dict:
    import llguidance
    import llguidance.hf
    import llguidance.torch as lt

    start = time.perf_counter()
    ll = llguidance.hf.from_tokenizer(tok)
    tokenizer_s = time.perf_counter() - start
    start = time.perf_counter()
    matcher = llguidance.LLMatcher(ll, llguidance.LLMatcher.grammar_from_json_schema(schema))
    compile_s = time.perf_counter() - start
    mask = lt.allocate_token_bitmask(1, ll.vocab_size)
    start = time.perf_counter()
    for t in ids:
        lt.fill_next_token_bitmask(matcher, mask, 0)
        matcher.consume_token(t)
    per_token = (time.perf_counter() - start) / len(ids)
    return {"tokenizer_s": tokenizer_s, "compile_s": compile_s, "mask_ms": per_token * 1e3,
            "accepts": matcher.is_accepting() and not matcher.is_error()}


def bench_xgrammar(tok, schema: str, ids: list[int]) -> dict:
    import xgrammar as xgr

    start = time.perf_counter()
    info = xgr.TokenizerInfo.from_huggingface(tok)
    compiler = xgr.GrammarCompiler(info)
    tokenizer_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = compiler.compile_json_schema(schema)
    compile_s = time.perf_counter() - start
    matcher = xgr.GrammarMatcher(compiled)
    mask = xgr.allocate_token_bitmask(1, info.vocab_size)
    start = time.perf_counter()
    ok = True
    for t in ids:
        matcher.fill_next_token_bitmask(mask)
        ok = ok and matcher.accept_token(t)
    per_token = (time.perf_counter() - start) / len(ids)
    return {"tokenizer_s": tokenizer_s, "compile_s": compile_s, "mask_ms": per_token * 1e3,
            "accepts": bool(ok and matcher.is_terminated() or matcher.accept_token(
                info.stop_token_ids[0]))}


def bench_lmfe(tok, schema: str, ids: list[int]) -> dict:
    from lmformatenforcer import JsonSchemaParser, TokenEnforcer
    from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data

    start = time.perf_counter()
    data = build_token_enforcer_tokenizer_data(tok)
    tokenizer_s = time.perf_counter() - start
    start = time.perf_counter()
    enforcer = TokenEnforcer(data, JsonSchemaParser(json.loads(schema)))
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    ok, prefix = True, []
    for t in ids:
        allowed = enforcer.get_allowed_tokens(prefix)
        allowed = getattr(allowed, "allowed_tokens", allowed)
        ok = ok and t in set(allowed)
        prefix.append(t)
    per_token = (time.perf_counter() - start) / len(ids)
    return {"tokenizer_s": tokenizer_s, "compile_s": compile_s, "mask_ms": per_token * 1e3,
            "accepts": ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-path", default=None, help="folder with extra libraries")
    args = parser.parse_args(argv)
    if args.extra_path:
        sys.path.append(args.extra_path)
    from transformers import AutoTokenizer

    from annotators.styles.critic import critic_shape
    from engines.embedded import converted_dir, embedded_gguf_path

    cached = converted_dir()
    if cached is not None and (cached / "config.json").is_file():
        tok = AutoTokenizer.from_pretrained(cached)
    else:
        gguf = embedded_gguf_path()
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    schema = critic_shape(N_STEPS, CHARS).spec
    ids = tok(answer(), add_special_tokens=False)["input_ids"]
    print(f"critic schema, {N_STEPS} steps; a valid answer of {len(ids)} tokens")
    print(f"{'library':<20}{'tokenizer s':>12}{'compile s':>11}{'mask ms/token':>15}  accepts")
    for name, bench in (("llguidance", bench_llguidance), ("xgrammar", bench_xgrammar),
                        ("lm-format-enforcer", bench_lmfe)):
        try:
            r = bench(tok, schema, ids)
        except ImportError as error:
            print(f"{name:<20}not installed ({error})")
            continue
        except Exception as error:  # a library that cannot read the schema: report it
            print(f"{name:<20}failed: {type(error).__name__}: {str(error)[:120]}")
            continue
        print(f"{name:<20}{r['tokenizer_s']:>12.2f}{r['compile_s']:>11.3f}"
              f"{r['mask_ms']:>15.3f}  {r['accepts']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
