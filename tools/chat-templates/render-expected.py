#!/usr/bin/env python3
"""Renders the project's own chat-template fixtures with Python's Jinja2, as Hugging Face does, into NAME.expected.json
beside each NAME.jinja (the same format as ../shared/fixtures/chat-templates): the conversations of the shared fixtures
(user only ... a tool-call round trip) plus a round trip with two parallel calls whose arguments are text, with the
template's own BOS/EOS. Run after adding a template:

    python3 tools/chat-templates/render-expected.py

Needs jinja2 (3.1). Settings: sandboxed, trim_blocks, lstrip_blocks, loopcontrols, tojson keeping non-ASCII,
raise_exception(msg), strftime_now fixed to 22 Nov 2026.
"""
import json
import pathlib
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "TokenFactory.Core.Tests" / "Fixtures" / "chat-templates"
SHARED = ROOT.parent / "shared" / "fixtures" / "chat-templates" / "Qwen-Qwen3-0.6B.expected.json"
SPECIAL = {
    "meetkai-functionary-medium-v3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
}


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime(2026, 11, 22, 10, 30).strftime(fmt)
    return env


def cases(bos, eos):
    shared = json.loads(SHARED.read_text())["cases"]
    result = []
    for case in shared:
        context = dict(case["context"], bos_token=bos, eos_token=eos)
        result.append((case["case"], context))
    tools = shared[-1]["context"]["tools"] + [{"type": "function", "function": {
        "name": "get_time", "description": "The time in a zone", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}}]
    messages = [
        {"role": "user", "content": "Weather and time in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"zone\": \"CET\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 18}"},
        {"role": "tool", "tool_call_id": "call_2", "name": "get_time", "content": "10:30"},
    ]
    result.append(("parallel_calls_text_arguments", {"messages": messages, "add_generation_prompt": True, "bos_token": bos, "eos_token": eos, "tools": tools}))
    return result


def main():
    env = environment()
    for path in sorted(FIXTURES.glob("*.jinja")):
        name = path.name[: -len(".jinja")]
        bos, eos = SPECIAL[name]
        template = env.from_string(path.read_text())
        out = []
        for case_name, context in cases(bos, eos):
            entry = {"case": case_name, "context": context}
            try:
                entry["expected"] = template.render(**context)
            except Exception as e:  # the fixture records what the template raised
                entry["error"] = f"{type(e).__name__}: {e}"
            out.append(entry)
        document = {"template": path.name, "renderer": f"Python Jinja2 {jinja2.__version__} sandbox, trim_blocks, lstrip_blocks, loopcontrols; "
                    "tojson(ensure_ascii=False); strftime_now returns 22 Nov 2026", "cases": out}
        (FIXTURES / f"{name}.expected.json").write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
        print(name, [(c["case"], "error" in c) for c in out])


if __name__ == "__main__":
    main()
