from emobalance.balance.prompts import build_messages


def test_default_prompt():
    msgs = build_messages("grief", ["rip buddy", "miss  you\nso much"], 7)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "7" in user and "grief" in user and "death" in user  # n, name, definition
    assert "- rip buddy\n- miss you so much\n" in user
    assert "Real comments" not in build_messages("grief", [], 7)[1]["content"]
