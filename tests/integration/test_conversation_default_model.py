"""A conversation's next turn on the embedded default model (Gemma-3-270M, raw: "continue").

The prefix cache reuses turn 1's KV only as far as turn 2's prompt tokens repeat turn 1's
prompt and chosen answer. Re-tokenizing "prompt + answer + new text" keeps every token of
the prompt and of the answer but, at most, the answer's last one (whitespace the new text's
first characters merge with: "\\n" + "\\nQ:" becomes "\\n\\n", "Q", ":").
"""

import pytest

from eager_local import load
from eager_local.conversation import Conversation

pytestmark = pytest.mark.slow


def test_the_next_turn_repeats_the_prompt_and_the_chosen_answer():
    model = load(n_threads=1, n_ctx=2048)
    try:
        e = model.engine
        first = model.run("Q: What is 12 times 7?\nA:", method="eager", theta=1.0, max_seqs=6,
                          max_new_tokens=24, seed=4)
        head = list(first.prompt_token_ids)
        whole = 0
        for s in first.sequences:
            answer = [t for t in s.tokens if not e.is_eog(t)]
            for new in ("", " And then?", "\nQ: And then?\nA:"):
                conv = Conversation.start(first.prompt, model.info.prompt_format).then(s.id, s.text, new)
                ids = e.prompt_tokens(conv.prompt(e))
                assert ids[:len(head) + len(answer) - 1] == head + answer[:-1]
                if not new:
                    assert ids == head + answer  # nothing added: nothing re-tokenized differently
                whole += ids[:len(head) + len(answer)] == head + answer
        assert whole >= len(first.sequences)  # at least the runs with nothing added keep every token
        conv = Conversation.start(first.prompt, model.info.prompt_format).then(0, first.sequences[0].text, "\nQ:")
        second = model.run(conv.prompt(e), max_new_tokens=8, seed=4)
        assert second.prompt == first.prompt + first.sequences[0].text + "\nQ:"
        assert list(second.prompt_token_ids[:len(head)]) == head
    finally:
        model.close()
