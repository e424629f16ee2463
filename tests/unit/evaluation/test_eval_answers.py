"""Answer checking: math-verify for numbers and LaTeX, the sandbox for code."""

import pytest

from eager_local.evaluation.answers import Checker
from eager_local.evaluation.datasets import Item, load_humaneval


@pytest.mark.parametrize(
    "text, answer, correct",
    [
        (" 7 + 7 = 14. The answer is 14.", "14", True),
        (" 7 * 7 = 49. The answer is 49.", "49", True),
        (" I had 12 and then 5", "5", True),  # the last number
        ("so the total is \\boxed{1,000} dollars", "1000", True),
        ("The answer is 3.5 dollars", "3.5", True),
        ("The answer is 14.0", "14", True),
        (" 9 - 2 = 7. The answer is 7.", "8", False),
    ],
)
def test_numeric(text, answer, correct):
    v = Checker("numeric").check(Item("a", "q", answer), text)
    assert v.correct is correct and v.answer is not None


def test_numeric_keys_are_normalised_for_the_vote():
    c = Checker("numeric")
    keys = {c.check(Item("a", "q", "14"), t).answer for t in ["The answer is 14.", "= 14.0", "\\boxed{14}"]}
    assert keys == {"14"}


def test_no_answer():
    v = Checker("numeric").check(Item("a", "q", "3"), "I do not know")
    assert v == type(v)(None, False, "no answer found")


def test_latex_through_math_verify():
    c = Checker("latex")
    item = Item("a", "q", "\\left( 3, \\frac{\\pi}{2} \\right)")
    assert c.check(item, "so $r=3$ and the point is \\boxed{(3, \\pi/2)}").correct
    assert not c.check(item, "\\boxed{(3, \\pi)}").correct
    assert c.check(Item("b", "q", "\\frac{1}{2}"), "The final answer is $0.5$").correct


def test_code_runs_humaneval_tests_in_the_sandbox():
    it = load_humaneval(limit=1).items[0]  # has_close_elements
    good = (
        "    for i, a in enumerate(numbers):\n"
        "        for b in numbers[i + 1:]:\n"
        "            if abs(a - b) < threshold:\n"
        "                return True\n"
        "    return False\n"
    )
    c = Checker("code", timeout_s=5)
    assert c.check(it, good).correct
    bad = c.check(it, "    return False\n")
    assert not bad.correct and bad.detail == "failed"
    hang = c.check(it, "    while True:\n        pass\n")
    assert not hang.correct and hang.detail == "timeout"


def test_checking_works_off_the_main_thread():
    # math-verify's own timeout uses signal.alarm; a TUI worker thread must still get verdicts
    import threading

    got = {}
    t = threading.Thread(target=lambda: got.update(v=Checker("numeric").check(Item("a", "q", "14"),
                                                                                "The answer is 14.")))
    t.start()
    t.join()
    assert got["v"].correct and got["v"].answer == "14"
