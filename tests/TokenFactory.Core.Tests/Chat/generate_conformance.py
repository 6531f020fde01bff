#!/usr/bin/env python3
"""Regenerates JinjaConformanceTests.g.cs: each case is rendered by Python's Jinja2 with Hugging Face's settings
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, HF tojson, raise_exception,
strftime_now fixed to 22 Nov 2026) and the output is frozen into C# InlineData. Run from this folder:
    python3 generate_conformance.py > JinjaConformanceTests.g.cs
"""
import json
from datetime import datetime
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
    x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def raise_exception(m): raise jinja2.exceptions.TemplateError(m)
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda f: datetime(2026, 11, 22, 10, 30, 0).strftime(f)

CTX = {"xs": [3, 1, 2], "d": {"b": 2, "a": 1, "items": "shadowed"}, "s": "Hello, World",
       "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "ok"}],
       "n": None, "u": "Grüße 你好 🚀", "words": ["b", "A", "c", "a"], "f": 2.5, "t": True}

GROUPS = {
    "Whitespace": [
        "a\n  {% if true %}\n  b\n  {% endif %}\nc",
        "  {{ 1 }}\n{% if true %}x{% endif %}\n",
        "x {%- if true %} y {% endif -%}  \n z",
        "a\n    {%+ if true %}b{% endif %}",
        "{% for i in xs %}\n{{ i }}\n{% endfor %}\n",
        "a {# c #}\nb\n  {# line comment #}\nc",
        "{{- '  x  ' -}}   \n {{ 'y' }}",
        "a\n\t {% set q = 1 %}\nb",
        "{% raw %}{{ not parsed }}{% endraw %}\n{%- raw -%}  {% x %}  {%- endraw %}",
        "line1\r\nline2\r\n{% if true %}\r\nz{% endif %}\n",
        "{{ 'a' }}{#- trims before #} b",
        "a\n{% if false %}\nb\n{% else %}\nc\n{% endif %}\nd\n",
    ],
    "Loops": [
        "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }};{% endfor %}",
        "{% for x in xs %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}",
        "{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
        "{% for x in xs if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}",
        "{% for x in [] %}no{% else %}empty{% endfor %}",
        "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
        "{% for k, v in d|items %}{{ k }}={{ v }},{% endfor %}",
        "{% for k in d %}{{ k }},{% endfor %}",
        "{% for c in 'ab🚀' %}<{{ c }}>{% endfor %}",
        "{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
        "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.depth }}{{ a }}{{ b }} {% endfor %}{{ loop.index }};{% endfor %}",
        "{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}",
        "{% for i in range(2, 10, 3) %}{{ i }},{% endfor %}{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}",
        "{% for m in msgs %}{% if loop.previtem and loop.previtem.role != m.role %}|{% endif %}{{ m.role }}{% endfor %}",
        "{% for x in undefined_thing %}x{% else %}none{% endfor %}",
        "{% for (a, b) in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
    ],
    "Namespace": [
        "{% set ns = namespace(count=0, seen=[]) %}{% for x in xs %}{% set ns.count = ns.count + x %}{% endfor %}{{ ns.count }}",
        "{% set ns = namespace() %}{% set ns.index = 0 %}{% for m in msgs %}{% set ns.index = ns.index + 1 %}{% endfor %}{{ ns.index }}",
        "{% set ns = namespace(found=false) %}{% for x in xs %}{% if x == 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}",
        "{% set ns = namespace(a=1) %}{{ ns }}|{{ ns.missing is defined }}",
        "{% set n2 = namespace({'a': 5}, b=6) %}{{ n2.a }}{{ n2.b }}",
        "{% set a, b = 1, 2 %}{{ a }}{{ b }}",
        "{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]",
        "{% set upper_block | upper %}shout{% endset %}{{ upper_block }}",
    ],
    "Slicing": [
        "{{ xs[::-1] }}|{{ xs[1:] }}|{{ xs[:-1] }}|{{ xs[::2] }}|{{ xs[-2:] }}|{{ xs[5:] }}",
        "{{ s[::-1] }}|{{ s[7:] }}|{{ s[:5] }}|{{ s[-5:-1] }}|{{ s[10:2:-2] }}",
        "{{ u[::-1] }}|{{ u[6:8] }}|{{ u|length }}|{{ u[-1] }}",
        "{{ msgs[1:]|length }}|{{ msgs[-1].content }}|{{ xs[0] }}{{ xs[-1] }}|{{ (1, 2, 3)[1:] }}",
        "{{ xs[10] is defined }}|{{ d['zz'] is defined }}|{{ d.zz is undefined }}",
    ],
    "ToJson": [
        "{{ d|tojson }}",
        "{{ msgs|tojson(indent=2) }}",
        "{{ {'a': [1, 2.5, none, true], 'b': {}, 'c': []}|tojson(indent=4) }}",
        "{{ u|tojson }}|{{ 'q\"\\\\\\n\\t\\x01<>&\\''|tojson }}",
        "{{ d|tojson(sort_keys=true) }}",
        "{{ [1, 'a']|tojson(separators=(',', ':')) }}",
        "{{ u|tojson(ensure_ascii=true) }}",
        "{{ 1.0|tojson }}|{{ 1e20|tojson }}|{{ (1, 2)|tojson }}|{{ none|tojson }}",
        "{{ {'k': 'v'}|tojson(indent='\\t') }}",
    ],
    "Filters": [
        "{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ xs|length }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello wORLD-foo (bar'|title }}|{{ 'hELLO'|capitalize }}",
        "{{ s|replace('l', 'L') }}|{{ s|replace('l', 'L', 2) }}|{{ xs|join(', ') }}|{{ xs|join }}",
        "{{ missing|default('dflt') }}|{{ ''|default('e') }}|{{ ''|default('e', true) }}|{{ n|d('x', boolean=true) }}",
        "{{ xs|first }}|{{ xs|last }}|{{ 'abc'|list }}|{{ d|list }}|{{ []|first is defined }}",
        "{{ msgs|map(attribute='role')|join(',') }}|{{ xs|map('string')|list }}|{{ msgs|map(attribute='nope', default='?')|list }}",
        "{{ xs|select('odd')|list }}|{{ xs|reject('odd')|list }}|{{ [0, 1, '', 'a']|select|list }}",
        "{{ msgs|selectattr('role', 'equalto', 'user')|list|length }}|{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|first }}",
        "{{ msgs|selectattr('content')|list|length }}|{{ xs|select('gt', 1)|list }}|{{ xs|select('in', [1, 3])|list }}",
        "{{ d|items|list }}|{{ d|dictsort }}|{{ d|dictsort(reverse=true) }}|{{ {'x': 2, 'y': 1}|dictsort(by='value') }}",
        "{{ xs|string }}|{{ '42'|int + 1 }}|{{ '3.9'|int }}|{{ 'x'|int(7) }}|{{ '0x1A'|int(base=16) }}|{{ '2.5'|float }}|{{ 'no'|float }}|{{ 3|float }}",
        "{{ -3|abs }}|{{ -2.5|abs }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(1) }}|{{ 2.1|round(0, 'ceil') }}|{{ 2.9|round(method='floor') }}|{{ 7|round }}",
        "{{ '<a>'|safe }}|{{ '<a href=\"x\">&'|escape }}|{{ ('<b>'|safe + '<i>') }}|{{ ('<i>' + '<b>'|safe) }}",
        "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('--', blank=true) }}",
        "{{ [3, 1, 3, 'a', 'A']|unique|list }}|{{ words|sort }}|{{ words|sort(case_sensitive=true) }}|{{ xs|sort(reverse=true) }}|{{ msgs|sort(attribute='content')|map(attribute='content')|join }}",
        "{{ xs|reverse|list }}|{{ 'abc'|reverse }}|{{ xs|sum }}|{{ msgs|sum(attribute='content', start='') if false else 0 }}|{{ xs|min }}|{{ xs|max }}|{{ words|max }}|{{ words|min }}",
        "{{ 'one two  three'|wordcount }}|{{ xs|count }}|{{ [1,2,3,4,5]|batch(2)|list }}|{{ [1,2,3]|batch(2, 0)|list }}",
        "{{ '%s=%d'|format('a', 3) }}|{{ '%05.1f|%-4s|%x|%r'|format(3.14159, 'ab', 255, 'q') }}|{{ '%(a)s'|format(a=1) }}",
        "{% filter upper %}shout {{ 'it' }}{% endfilter %}",
        "{{ 'abc'|center(9) }}|{{ 'The quick brown fox jumps'|truncate(12) }}|{{ d|attr('b') }}",
        "{{ msgs|map(attribute='role')|unique|list }}|{{ [1, 2]|map('float')|list }}|{{ xs|sum(start=10) }}",
    ],
    "StringMethods": [
        "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ '\\n\\nhi'.lstrip('\\n') }}",
        "{{ 'a,b,,c'.split(',') }}|{{ ' a  b c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}|{{ 'x</think>y</think>z'.split('</think>')[-1] }}",
        "{{ s.startswith('Hell') }}|{{ s.endswith(('x', 'ld')) }}|{{ s.startswith(('a', 'b')) }}",
        "{{ s.upper() }}|{{ s.lower() }}|{{ 'hello wORLD-foo'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aB'.swapcase() }}",
        "{{ s.replace('o', '0') }}|{{ s.replace('l', '', 1) }}|{{ s.find('o') }}|{{ s.find('z') }}|{{ s.rfind('o') }}|{{ s.count('l') }}|{{ u.find('你') }}",
        "{{ '-'.join(['a', 'b']) }}|{{ ''.join(xs|map('string')) }}|{{ '{} and {}'.format('x', 'y') }}|{{ '{a}-{0}'.format(1, a=2) }}",
        "{{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 'dflt') }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items is callable }}",
        "{{ d['items'] }}|{{ xs.index(2) }}|{{ xs.count(3) }}|{{ '12'.isdigit() }}|{{ 'ab'.isalpha() }}|{{ 'a:b:c'.partition(':') }}|{{ '7'.zfill(3) }}",
        "{{ 'abc'.removeprefix('a') }}|{{ 'abc'.removesuffix('c') }}|{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'ab'.ljust(4, '*') }}|{{ 'ab'.rjust(4) }}|{{ 'ab'.center(5, '.') }}",
    ],
    "Tests": [
        "{{ xs is defined }}{{ zz is defined }}{{ zz is undefined }}{{ n is none }}{{ s is string }}{{ 1 is number }}{{ t is number }}{{ 1.5 is number }}",
        "{{ 1 is integer }}{{ t is integer }}{{ 1.0 is float }}{{ d is mapping }}{{ xs is mapping }}{{ xs is iterable }}{{ s is iterable }}{{ d is iterable }}{{ 1 is iterable }}{{ zz is iterable }}",
        "{{ xs is sequence }}{{ s is sequence }}{{ d is sequence }}{{ 1 is sequence }}{{ t is boolean }}{{ 1 is boolean }}{{ t is true }}{{ 1 is true }}{{ false is false }}",
        "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 'a' is equalto 'a' }}{{ 1 is eq 1.0 }}{{ 1 is ne 2 }}{{ 2 is lt 3 }}{{ 2 is gt 3 }}{{ 1 is in xs }}{{ 5 is not in xs }}",
        "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ range is callable }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ n is not none }}{{ s is not string }}",
    ],
    "Expressions": [
        "{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 10 / 5 }}",
        "{{ 1.5 + 1 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1.5e-7 }}|{{ 123456789.0 * 1000 }}|{{ 1/3 }}|{{ -0.0 }}|{{ 3.0 }}|{{ 2.5 * 2 }}",
        "{{ 'a' ~ 1 ~ none ~ true ~ zz }}|{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ [1] + [2] }}|{{ 'x' + 'y' }}|{{ true + true }}",
        "{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 'a' < 'b' }}|{{ [1, 2] == [1, 2] }}|{{ (1, 2) == [1, 2] }}|{{ 1 == 1.0 }}|{{ 'a' in 'cat' }}|{{ 'z' not in 'cat' }}|{{ 2 in xs }}|{{ 'a' in d }}",
        "{{ not 1 }}|{{ not 0 and 1 }}|{{ 0 or 'fallback' }}|{{ '' or [] }}|{{ 1 and 'yes' }}|{{ none or 0 }}",
        "{{ 'y' if xs else 'n' }}|{{ 'y' if [] else 'n' }}|{{ 'y' if zz }}|{{ 'a' if false else 'b' if false else 'c' }}",
        "{{ [1, 'a', none, true, 1.0, (1,), {'k': 'v'}, \"it's\", 'say \"hi\"', 'a\\nb'] }}",
        "{{ {'a': 1, 'b': [1, 2]} }}|{{ (1, 2) }}|{{ () }}|{{ none }}|{{ true }}|{{ False }}|{{ [] }}|{{ {} }}|{{ zz }}",
        "{{ 'single' \"double\" }}|{{ 'esc\\ttab\\\\ \\u00e9 \\x41' }}|{{ \"q'uote\" }}|{{ 1_000 }}",
        "{{ msgs[0]['role'] }}|{{ msgs[0].role }}|{{ msgs.0.role }}|{{ d.a }}|{{ d['a'] }}|{{ xs.1 }}",
        "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet(name='Cy') }}",
        "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inside {{ 1 }}{% endcall %}",
        "{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(4) }}",
        "{% macro va(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ va(1, 2, 3, k=4) }}",
        "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}",
        "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %p %I %y') }}",
        "{{ dict(a=1, b=2) }}|{{ range(3)|list }}|{{ range(0)|list }}|{{ xs|length > 2 and d.a == 1 }}",
        "{% if xs %}{% set inner = 'set-in-if' %}{% endif %}{{ inner }}",
        "{% set x = 5 %}{% if x is divisibleby 5 %}five{% elif x > 3 %}big{% else %}small{% endif %}",
        "{{ '%s-%s' % ('a', 'b') }}|{{ '%d%%' % 50 }}|{{ '%.2f' % 3.14159 }}|{{ '%s' % none }}|{{ '%(k)s' % {'k': 'v'} }}",
        "{{ -(xs|length) }}|{{ 2 * -3 }}|{{ - - 2 }}",
    ],
    "Errors": [
        "{{ zz.attr }}",
        "{{ zz + 1 }}",
        "{{ -xs|length }}",
        "{{ len(xs) }}",
        "{{ raise_exception('custom failure') }}",
        "{{ xs.append(4) }}",
        "{{ 'a' + 1 }}",
        "{{ 1 / 0 }}",
        "{% if true %}{{ xs|nosuchfilter }}{% endif %}",
        "{{ 1 if xs is nosuchtest else 2 }}",
        "{{ zz() }}",
        "{{ zz.strip() }}",
        "{{ 1 < 'a' }}",
        "{{ d|tojson if zz|tojson else 1 }}",
        "{% set q = 1 %}{{ q.x.y }}",
    ],
}

SYNTAX = [
    "{% if x %}unterminated",
    "line1\nline2 {{ 1 + }}",
    "{% for %}{% endfor %}",
    "{% endif %}",
    "{{ 'unterminated }}",
    "a\n\n{% unknowntag %}",
    "{{ (1, 2 }}",
    "{% for x in xs %}{% endif %}",
    "{% break %}",
    "{# never closed",
    "{{ xs|nosuchfilter }}",
    "a\n{{ xs is nosuchtest }}",
    "{% if true %}{% for x in xs %}{{ x|nosuch }}{% endfor %}{% endif %}",
]

def cs(s):
    return json.dumps(s, ensure_ascii=True)

def render(src):
    try:
        return env.from_string(src).render(**CTX)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise
    except Exception as e:
        import sys
        print(f"{src!r}: {type(e).__name__}: {e}", file=sys.stderr)
        return None

out = []
out.append("// <auto-generated> by generate_conformance.py from Python Jinja2 " + jinja2.__version__ + "; do not edit by hand. </auto-generated>")
out.append("namespace TokenFactory.Tests.Chat;\n")
out.append("public sealed partial class JinjaConformanceTests\n{")
out.append("    internal const string ContextJson = " + cs(json.dumps(CTX, ensure_ascii=False)) + ";\n")
for group, cases in GROUPS.items():
    out.append("    [Theory]")
    for src in cases:
        try:
            result = render(src)
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise SystemExit(f"unexpected syntax error in {src!r}: {e}")
        if group == "Errors":
            assert result is None, (src, result)
            out.append(f"    [InlineData({cs(src)})]")
        else:
            assert result is not None, src
            out.append(f"    [InlineData({cs(src)}, {cs(result)})]")
    if group == "Errors":
        out.append(f"    public void {group}(string template) => AssertRaises(template);\n")
    else:
        out.append(f"    public void {group}(string template, string expected) => AssertRenders(template, expected);\n")
out.append("    [Theory]")
for src in SYNTAX:
    try:
        env.from_string(src)
        raise SystemExit(f"expected syntax error: {src!r}")
    except jinja2.exceptions.TemplateSyntaxError as e:
        out.append(f"    [InlineData({cs(src)}, {e.lineno})]")
    except SyntaxError:
        # Jinja lets Python's compiler reject a stray {% break %}; there is no template line to report.
        out.append(f"    [InlineData({cs(src)}, 1)]")
out.append("    public void SyntaxErrors(string template, int line) => AssertSyntaxError(template, line);")
out.append("}")
print("\n".join(out))
