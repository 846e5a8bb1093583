"""Truth tests for two-part judge answers (issue 24): free reasoning, then a constrained
verdict block, within max_tokens.

Truth here is what a scripted model meant (written by hand), llguidance's own matcher driven
token by token over the embedded model's tokenizer, and the step count of the solution; never
our parsers' reading of themselves.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from annotators.registry import build_annotator
from annotators.styles.base import two_part
from annotators.styles.critic import critic_shape
from annotators.styles.processbench import processbench_shape
from annotators.styles.spare import spare_shape
from annotators.styles.think import think_shape
from engines.base import THINK_CLOSE, GenerationRequest, TwoPart, lowered
from engines.openai_engine import request_body
from engines.scripted import ScriptedEngine
from schemas import Problem, Solution

PROBLEM = Problem(question="Ann has 6 pens and gives 4 away. How many pens are left?",
                  reference_answer="2", reference_solution="6 - 4 = 2.\n\nThe answer is 2.")
RIGHT = ["Ann starts with 6 pens.", "She gives away 4 pens.", "6 - 4 = 2 pens are left.",
         "The answer is \\boxed{2}."]
WRONG = ["Ann starts with 6 pens.", "She gives away 4 pens, so 6 - 4 = 3.",
         "So 3 pens are left.", "The answer is \\boxed{3}."]
LONG = " ".join(["I recompute 6 - 4 once more to be sure."] * 400)  # ~4000 words, never closed

# the verdict each scripted model writes once it is forced into its block, and what it means
BLOCKS = {
    "critic": ('{"steps":[{"step":1,"verdict":"correct"},{"step":2,"verdict":"incorrect"},'
               '{"step":3,"verdict":"incorrect"},{"step":4,"verdict":"incorrect"}],'
               '"first_error":2}'),
    "think": ("Step 1: \\boxed{correct}\nStep 2: \\boxed{incorrect}\nStep 3: \\boxed{incorrect}\n"
              "Step 4: \\boxed{incorrect}\nIs the solution correct? No"),
    "processbench": "\\boxed{1}",
}


def solution(steps: list[str]) -> Solution:
    return Solution(problem_id=PROBLEM.problem_id, generator="policy", text="\n\n".join(steps),
                    steps=steps, finish_reason="stop")


def annotate(engine, annotator: str, config: dict[str, Any], steps: list[str]) -> list:
    built = build_annotator(annotator, {"retries": 1, **config}, {"default": engine})
    return list(built.annotate({PROBLEM.problem_id: PROBLEM}, [solution(steps)]))


# ---- budget forcing through the annotator (scripted engine) ---------------------------------

@pytest.mark.parametrize("style", list(BLOCKS))
def test_a_model_reasoning_past_its_budget_is_forced_into_a_readable_verdict(style):
    """The model would reason for ~4000 words at max_tokens 2048: it is cut at its budget and
    continues in the verdict block, which is read as it meant (first error at step 2)."""
    def model(request: GenerationRequest, _i: int) -> str:
        if request.continuation and request.continuation.endswith(THINK_CLOSE):
            return BLOCKS[style]  # forced: the verdict block
        return "<think>\nParagraph 0 (step 1) is fine; paragraph 1 (step 2) says 6 - 4 = 3. " + LONG

    engine = ScriptedEngine(model)
    votes = annotate(engine, "judge", {"style": style, "max_tokens": 2048}, WRONG)
    assert engine.forced == 1 and engine.requests_seen == 1  # no retry: it read at once
    assert [v.status for v in votes] == ["labeled"] * 4
    assert [v.label for v in votes] == [1, 0, 0, 0]
    assert votes[1].details["source"] == "verdict"
    reasoning = votes[0].details["reasoning"]
    assert reasoning.startswith("Paragraph 0") and len(reasoning.split()) > 1500


# ---- budget forcing in llguidance itself, on a real tokenizer ---------------------------------

@functools.lru_cache(maxsize=1)
def _tokenizer():
    transformers = pytest.importorskip("transformers")
    from engines.embedded import EmbeddedModelMissing, converted_dir

    try:
        folder = converted_dir()
    except EmbeddedModelMissing:
        pytest.skip("the embedded model is not installed")
    if folder is None or not (folder / "tokenizer.json").is_file():
        pytest.skip("no converted copy of the embedded model's tokenizer")
    return transformers.AutoTokenizer.from_pretrained(folder)


def _decode_adversarially(tokenizer, shape: TwoPart, max_tokens: int, reasoning: str):
    """Drive llguidance's matcher as a model that always wants to keep reasoning: its tokens
    are fed while the grammar allows them; then, where the grammar leaves a choice, the model
    takes the last allowed token (never EOS while another is allowed)."""
    import llguidance
    import llguidance.hf
    import llguidance.torch as llt
    import torch

    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    ll_tok = llguidance.hf.from_tokenizer(tokenizer)
    grammar = lowered(shape, max_tokens, count)
    matcher = llguidance.LLMatcher(ll_tok, llguidance.LLMatcher.grammar_from_lark(grammar.spec))
    mask = llt.allocate_token_bitmask(1, ll_tok.vocab_size)
    shifts = torch.arange(32, dtype=torch.int32)

    def allowed() -> list[int]:
        llt.fill_next_token_bitmask(matcher, mask, 0)
        bits = ((mask[0].unsqueeze(1) >> shifts) & 1).flatten()[:ll_tok.vocab_size]
        return torch.nonzero(bits).flatten().tolist()

    def allows(token: int) -> bool:
        llt.fill_next_token_bitmask(matcher, mask, 0)
        return bool((int(mask[0, token // 32]) >> (token % 32)) & 1)

    out: list[int] = []
    for token in tokenizer("<think>\n" + reasoning, add_special_tokens=False)["input_ids"]:
        if not allows(token):
            break
        matcher.consume_token(token)
        out.append(token)
    while not matcher.is_stopped() and len(out) < 4 * max_tokens:
        forced = matcher.compute_ff_tokens()
        if forced:
            matcher.consume_tokens(forced)
            out += forced
            continue
        choices = [t for t in allowed() if t != tokenizer.eos_token_id]
        if not choices:
            break
        matcher.consume_token(choices[-1])
        out.append(choices[-1])
    assert not matcher.is_error(), matcher.get_error()
    return tokenizer.decode(out), len(out)


@pytest.mark.parametrize("style, n, max_tokens", [
    ("processbench", 8, 300), ("think", 8, 300),
    *[pytest.param(style, n, max_tokens, marks=pytest.mark.slow)  # ~10-40 s each on 2 cores
      for style in ("critic", "think", "processbench", "spare")
      for n, max_tokens in [(8, 300), (8, 2048), (20, 2048), (20, 600)]
      if (style, n, max_tokens) not in {("processbench", 8, 300), ("think", 8, 300)}]])
def test_the_grammar_forces_the_verdict_block_at_the_budget_on_a_real_tokenizer(
        style, n, max_tokens):
    tokenizer = _tokenizer()
    block = {"critic": critic_shape(n), "think": think_shape(n),
             "processbench": processbench_shape(n), "spare": spare_shape(n, 3)}[style]
    shape = two_part(style, block, n, 0, 3 if style == "spare" else 0)
    text, used = _decode_adversarially(tokenizer, shape, max_tokens, LONG + " \\boxed{2}")
    assert used <= max_tokens  # never cut off
    reasoning, verdict = text.split("</think>", 1)
    assert len(tokenizer(reasoning)["input_ids"]) > max_tokens - shape.block_tokens(None) - 40
    if style == "processbench":
        assert re.fullmatch(r"\n\\boxed\{-?\d+\}", verdict)
    elif style == "think":
        assert len(re.findall(r"^Step \d+: \\boxed\{(?:in)?correct\}$", verdict, re.M)) >= 1
        assert verdict.rstrip().endswith(("Yes", "No"))
    else:
        import json

        data = json.loads(verdict)
        entries = data["steps"] if style == "critic" else data
        assert len(entries) == n


# ---- what the verdicts mean -------------------------------------------------------------------

def test_a_processbench_answer_quoting_boxes_before_its_own_reads_its_own_index():
    """The critique quotes the solution's \\boxed{2} and muses about a \\boxed{1} before its
    own \\boxed{-1}: ProcessBench reads the last box; the two-part shape reads the block."""
    reply = ("<think>\nParagraph 0: 6 pens. Paragraph 1: gives 4. The solution ends with "
             "\\boxed{2}; had paragraph 2 said 6 - 4 = 3 I would answer \\boxed{2}... no, "
             "\\boxed{1}? It says 2, fine. Paragraphs 2-3 hold.\n</think>\n\\boxed{-1}")
    for constrained in (True, False):
        engine = ScriptedEngine(lambda request, i: reply)
        votes = annotate(engine, "judge", {"style": "processbench",
                                           "constrained": constrained}, RIGHT)
        assert [v.label for v in votes] == [1, 1, 1, 1]
        assert {v.details["first_error"] for v in votes} == {-1}
        assert engine.requests_seen == 1


@pytest.mark.parametrize("constrained", [True, False])
def test_an_early_minus_one_never_labels_paragraphs_nobody_critiqued(constrained):
    """The critique checks paragraph 0 only, then boxes -1: paragraph 0 is labelled from the
    verdict, the other three get no label (skipped, not_critiqued)."""
    reply = "<think>\nParagraph 0: Ann starts with 6 pens, fine.\n</think>\n\\boxed{-1}"
    engine = ScriptedEngine(lambda request, i: reply)
    votes = annotate(engine, "judge", {"style": "processbench", "constrained": constrained},
                     WRONG)
    assert (votes[0].status, votes[0].label, votes[0].details["source"]) == \
        ("labeled", 1, "verdict")
    for vote in votes[1:]:
        assert vote.status == "skipped" and vote.label is None
        assert vote.details["skip_kind"] == "not_critiqued"


def test_two_verdict_blocks_after_the_reasoning_are_a_parse_error_then_unparsed():
    reply = "<think>\nParagraph 0: fine\nParagraph 1: wrong\n</think>\n\\boxed{1}\n\\boxed{-1}"
    engine = ScriptedEngine(lambda request, i: reply)
    votes = annotate(engine, "judge", {"style": "processbench", "constrained": False}, WRONG)
    assert engine.requests_seen == 2  # asked again once, then unparsed
    assert [v.status for v in votes] == ["unparsed"] * 4


def test_the_reasoning_is_never_read_for_verdicts():
    """A think answer whose reasoning holds a complete, different verdict chain (the model
    drafting) is read from its block alone."""
    draft = ("Step 1: \\boxed{correct}\nStep 2: \\boxed{correct}\nStep 3: \\boxed{correct}\n"
             "Step 4: \\boxed{correct}\nIs the solution correct? Yes")
    reply = f"<think>\nDraft:\n{draft}\nBut 6 - 4 is 2, not 3.\n</think>\n{BLOCKS['think']}"
    engine = ScriptedEngine(lambda request, i: reply)
    votes = annotate(engine, "judge", {"style": "think"}, WRONG)
    assert [v.label for v in votes] == [1, 0, 0, 0]


# ---- the engines send the same two-part shape -------------------------------------------------

def _same(spec: str) -> str:
    return re.sub(r"max_tokens=\d+", "max_tokens=N", spec)


def _judge_request(style: str) -> GenerationRequest:
    engine = ScriptedEngine(lambda request, i: "")
    annotate(engine, "judge", {"style": style, "retries": 0, "max_tokens": 1024}, WRONG)
    return engine.calls[0][0]


@pytest.mark.parametrize("style", ["critic", "think", "processbench"])
def test_transformers_and_openai_engines_send_the_same_two_part_grammar(style, monkeypatch):
    from engines import transformers_engine as te

    request = _judge_request(style)
    shape = request.constraint
    assert isinstance(shape, TwoPart)
    _, body = request_body("judge", request)
    sent_openai = body["structured_outputs"]["grammar"]

    tokenizer = _tokenizer()
    engine = te.TransformersEngine.__new__(te.TransformersEngine)
    engine.tokenizer, engine.model_id, engine.context = tokenizer, "m", None
    engine.config = type("C", (), {"batch_size": 4})()
    import threading

    engine._lock = threading.Lock()
    seen = []

    def run_batch(rows):
        seen.extend(rows)
        return [te.RowResult("", 0, "stop") for _ in rows]

    monkeypatch.setattr(engine, "run_batch", run_batch)
    engine.generate([request])
    sent_local = seen[0].constraint.spec
    assert _same(sent_local) == _same(sent_openai)
    budgets = [int(re.search(r"max_tokens=(\d+)", s).group(1)) for s in (sent_local, sent_openai)]
    assert all(0 < b < 1024 for b in budgets)
    # the tokenizer's exact count leaves the reasoning at least the margin's room
    assert budgets[0] >= budgets[1]


@pytest.mark.gpu
def test_the_vllm_engine_sends_the_same_two_part_grammar():
    pytest.importorskip("vllm")
    from engines.vllm_engine import structured_params

    request = _judge_request("think")
    grammar = lowered(request.constraint, request.max_tokens)
    params = structured_params(grammar)
    value = next(iter(params.values()))
    assert _same(getattr(value, "grammar")) == _same(request_body("m", request)[1][
        "structured_outputs"]["grammar"])


def test_a_server_without_grammars_gets_the_reasoning_as_a_free_json_field_first():
    """OpenAI's own API takes JSON schemas but no grammars: the critic's two-part answer goes as
    ``{"reasoning", "verdict"}`` (reasoning first, bounded so the answer fits), read as meant;
    the refusal is remembered and named on the votes (the label-health line reads it)."""
    import json

    from engines.config import EngineConfig
    from engines.openai_engine import OpenAIEngine
    from engines.openai_server import start_server

    def model(request: GenerationRequest, _i: int) -> str:
        return json.dumps({"reasoning": "Step 2 says 6 - 4 = 3; it is 2. " + BLOCKS["critic"],
                           "verdict": json.loads(BLOCKS["critic"])})

    behind = ScriptedEngine(model)
    with start_server(behind, structured="json") as server:
        client = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url))
        votes = annotate(client, "judge", {"style": "critic", "max_tokens": 1024}, WRONG)
        again = annotate(client, "judge", {"style": "critic", "max_tokens": 1024}, RIGHT)
    assert [v.label for v in votes] == [1, 0, 0, 0] and [v.label for v in again] == [1, 0, 0, 0]
    assert votes[0].details["reasoning"].startswith("Step 2 says")
    assert client.grammar_refused and client.constraints_refused is None
    sent = [r.constraint for batch in behind.calls for r in batch]
    assert len(sent) == 2 and all(c.kind == "json_schema" for c in sent)  # once refused, JSON
    schema = sent[0].schema()
    assert list(schema["properties"]) == ["reasoning", "verdict"]
    assert 0 < schema["properties"]["reasoning"]["maxLength"] < 1024
    assert "grammars are not supported" in votes[0].details["constraints_refused"]


def test_self_consistency_scores_a_step_only_over_the_answers_that_labelled_it():
    """Three processbench critiques agree on index 2; the first critiqued only paragraph 2
    itself: the labels come from an answer that critiqued paragraphs 0-1, scored over the two
    answers that named them."""
    full = "<think>\nParagraph 0: fine. Paragraph 1: fine. Paragraph 2: 3 is wrong.\n</think>\n"
    short = "<think>\nParagraph 2: 6 - 4 is not 3.\n</think>\n"
    texts = iter([short + "\\boxed{2}", full + "\\boxed{2}", full + "\\boxed{2}"])
    engine = ScriptedEngine(lambda request, i: next(texts))
    votes = annotate(engine, "judge", {"style": "processbench", "votes": 3}, WRONG)
    assert [v.label for v in votes] == [1, 1, 0, 0]
    assert [v.score for v in votes] == [1.0, 1.0, 0.0, 0.0]
    assert all(v.status == "labeled" for v in votes)


def test_spark_meta_critique_shows_a_processbench_verification_in_one_index_base():
    """The verification names paragraphs from 0 and boxes a 0-based index; the meta prompt tags
    steps from 1, so it must show the verification in that base: "Paragraph 1" as "Step 2",
    no 0-based box, the verdicts listed per step from 1."""
    verification = ("<think>\nParagraph 0: fine. Paragraph 1: 6 - 4 is 2, not 3.\n</think>\n"
                    "\\boxed{1}")

    def model(request: GenerationRequest, _i: int) -> str:
        if "<verification>" in request.messages[-1]["content"]:
            return BLOCKS["critic"]
        return verification

    engine = ScriptedEngine(model)
    votes = annotate(engine, "spark", {"style": "processbench", "k": 1, "meta_critique": True},
                     WRONG)
    meta = [r for batch in engine.calls for r in batch
            if "<verification>" in r.messages[-1]["content"]][0].messages[-1]["content"]
    shown = meta.rsplit("<verification>", 1)[1].split("</verification>")[0]
    assert "Step 1: fine. Step 2: 6 - 4 is 2, not 3." in shown
    assert "aragraph" not in shown and "\\boxed{1}" not in shown
    assert "step 1: correct, step 2: incorrect, step 3: incorrect, step 4: incorrect" in meta
    assert "<step_1>" in meta and "<step_0>" not in meta
    assert [v.label for v in votes] == [1, 0, 0, 0]
