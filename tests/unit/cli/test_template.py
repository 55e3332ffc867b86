"""The Go text/template subset behind --format."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.template import Template, TemplateError, render, to_text

CONTAINER: dict[str, Any] = {
    "Id": "abc",
    "State": {"Status": "running", "Pid": 42, "Running": True},
    "Config": {"Cmd": ["sh", "-c", "x"], "Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"}},
    "Mounts": [{"Source": "/s1"}, {"Source": "/s2"}],
    "Empty": [],
    "Nothing": None,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{.Id}}", "abc"),
        ("{{.State.Status}}/{{.State.Pid}}", "running/42"),
        ("{{json .Config.Cmd}}", '["sh","-c","x"]'),
        ("{{.Config.Cmd}}", "[sh -c x]"),
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ('{{index .Config.Labels "zz"}}', "<no value>"),
        ("{{.Nothing}}", "<nil>"),
        ("{{.State.Running}}", "true"),
        ("{{range .Mounts}}{{.Source}};{{end}}", "/s1;/s2;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", "0=A=1 1=B=2 "),
        ("{{range $k, $v := .Config.Labels}}{{$k}}{{$v}}{{end}}", "a1b2"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Empty}}a{{else if .Id}}b{{else}}c{{end}}", "b"),
        ("{{if and .Id .Empty}}x{{else}}y{{end}}", "y"),
        ("{{or .Empty .Id}}", "abc"),
        ("{{if not .Empty}}empty{{end}}", "empty"),
        ('{{if eq .State.Status "running"}}R{{end}}', "R"),
        ("{{if ne .State.Pid 42}}x{{else}}same{{end}}", "same"),
        ("{{with .State}}{{.Status}}{{end}}", "running"),
        ('{{join .Config.Cmd ","}}', "sh,-c,x"),
        ("{{.State.Status | upper}}", "RUNNING"),
        ('{{lower "ABC"}} {{title "hi there"}}', "abc Hi There"),
        ('{{index .Config.Labels "a"}} {{index .Config.Cmd 1}}', "1 -c"),
        ("{{len .Mounts}}", "2"),
        ('{{printf "%s-%d" .Id 5}}', "abc-5"),
        ('{{split "a:b" ":"}}', "[a b]"),
        ("{{truncate .Id 2}}|{{pad .Id 1 1}}|", "ab| abc |"),
        ('{{$x := .Id}}{{$x}}{{$x = "y"}}{{$x}}', "abcy"),
        ("{{(index .Mounts 1).Source}}", "/s2"),
        ("a  {{- .Id -}}  b", "aabcb"),
        ("{{/* a comment */}}ok", "ok"),
        ("{{println .Id}}", "abc\n"),
        (
            "{{json .}}",
            '{"Id":"abc","State":{"Status":"running","Pid":42,"Running":true},'
            '"Config":{"Cmd":["sh","-c","x"],"Env":["A=1","B=2"],"Labels":{"b":"2","a":"1"}},'
            '"Mounts":[{"Source":"/s1"},{"Source":"/s2"}],"Empty":[],"Nothing":null}',
        ),
    ],
)
def test_render(source: str, expected: str) -> None:
    assert render(source, CONTAINER) == expected


def test_method_fields_take_arguments() -> None:
    row = {"Label": lambda key: {"app": "web"}.get(key, "")}
    assert render('{{.Label "app"}}', row) == "web"


def test_json_keeps_non_ascii_and_html() -> None:
    assert render("{{json .}}", {"a": "<é>"}) == '{"a":"<é>"}'


def test_go_number_formatting() -> None:
    assert to_text(42) == "42"
    assert to_text(1e6) == "1e+06"
    assert to_text(123456.0) == "123456"
    assert to_text(0.5) == "0.5"
    assert to_text(1234567.0) == "1.234567e+06"


@pytest.mark.parametrize(
    "source",
    ["{{.Id", "{{if .Id}}x", "{{end}}", "{{nosuchfunc .Id}}", '{{"unterminated}}', "{{|}}"],
)
def test_errors(source: str) -> None:
    with pytest.raises(TemplateError):
        Template(source).render(CONTAINER)


def test_template_is_reusable() -> None:
    t = Template("{{.Id}}")
    assert [t.render({"Id": i}) for i in "ab"] == ["a", "b"]


def test_missing_keys_are_errors_as_in_docker() -> None:
    with pytest.raises(TemplateError, match='map has no entry for key "Nope"'):
        render("{{.State.Nope}}", CONTAINER)
    with pytest.raises(TemplateError, match="nil pointer"):
        render("{{.Nothing.Field}}", CONTAINER)
