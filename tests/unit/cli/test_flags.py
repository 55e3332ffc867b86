"""The pflag-compatible parser: Docker's syntax and messages."""

from __future__ import annotations

import pytest

from dockyard.cli.catalog import COMMANDS, lookup
from dockyard.cli.errors import UsageError
from dockyard.cli.flags import BOOL, INT, LIST, STR, Command, Flag, Parser, check_arg_count


def cmd(interspersed: bool = True) -> Command:
    return Command(
        "run",
        "[OPTIONS] IMAGE",
        "x",
        "m:f",
        (
            Flag("interactive", "i", BOOL),
            Flag("tty", "t", BOOL),
            Flag("detach", "d", BOOL),
            Flag("env", "e", LIST),
            Flag("name", "", STR),
            Flag("cpu-shares", "c", INT),
            Flag("rm", "", BOOL),
            Flag("network", "", STR, aliases=("net",)),
        ),
        interspersed=interspersed,
    )


def test_stops_at_the_image_when_not_interspersed() -> None:
    opts = Parser(cmd(False)).parse(["-it", "busybox", "ls", "-l", "--rm"])
    assert opts.bool("interactive") and opts.bool("tty")
    assert not opts.bool("rm")
    assert opts.args == ["busybox", "ls", "-l", "--rm"]


def test_interspersed_commands_take_flags_anywhere() -> None:
    opts = Parser(cmd(True)).parse(["a", "--rm", "b"])
    assert opts.args == ["a", "b"] and opts.bool("rm")


def test_value_spellings() -> None:
    opts = Parser(cmd(False)).parse(
        ["-e", "A=b", "--env=C=d", "-eE=f", "-e=G=h", "--name", "x", "-c7", "img"]
    )
    assert opts.list("env") == ["A=b", "C=d", "E=f", "G=h"]
    assert opts.str("name") == "x"
    assert opts.int("cpu_shares") == 7
    assert opts.is_set("cpu_shares") and not opts.is_set("rm")


def test_cluster_with_trailing_value_flag() -> None:
    opts = Parser(cmd(False)).parse(["-ite", "A=1", "img"])
    assert opts.bool("interactive") and opts.bool("tty")
    assert opts.list("env") == ["A=1"]


def test_bool_with_explicit_value_and_alias() -> None:
    opts = Parser(cmd(False)).parse(["--rm=false", "-d=true", "--net", "none", "img"])
    assert opts.bool("rm") is False and opts.is_set("rm")
    assert opts.bool("detach") is True
    assert opts.str("network") == "none"


def test_double_dash_ends_options() -> None:
    opts = Parser(cmd(True)).parse(["--rm", "--", "--name", "x"])
    assert opts.args == ["--name", "x"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo"], "unknown flag: --foo"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["-ix"], "unknown shorthand flag: 'x' in -ix"),
        (["-e"], "flag needs an argument: 'e' in -e"),
        (["--name"], "flag needs an argument: --name"),
        (
            ["--rm=maybe"],
            'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": '
            "invalid syntax",
        ),
        (
            ["-c", "x"],
            'invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": '
            "invalid syntax",
        ),
    ],
)
def test_errors_read_like_docker(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        Parser(cmd(False)).parse(argv)
    assert info.value.message == message
    assert info.value.status == 125


def test_converter_messages_name_the_flag() -> None:
    run = lookup(["run"])[0]
    assert run is not None
    with pytest.raises(UsageError) as info:
        Parser(run).parse(["-m", "12q", "busybox"])
    assert info.value.message == (
        'invalid argument "12q" for "-m, --memory" flag: invalid size: \'12q\''
    )


def test_arg_count_messages() -> None:
    run = lookup(["run"])[0]
    assert run is not None
    with pytest.raises(UsageError) as info:
        check_arg_count(run, [])
    assert info.value.status == 1
    assert info.value.message.startswith("dockyard: 'dockyard run' requires at least 1 argument")
    rename = lookup(["rename"])[0]
    assert rename is not None
    with pytest.raises(UsageError):
        check_arg_count(rename, ["a"])
    check_arg_count(rename, ["a", "b"])


def test_management_commands_resolve_to_the_same_command() -> None:
    assert lookup(["container", "ls"])[0] is lookup(["ps"])[0]
    assert lookup(["image", "rm", "x"])[0] is lookup(["rmi"])[0]
    assert lookup(["container", "run", "busybox"]) == (lookup(["run"])[0], 2)
    volume_ls = lookup(["volume", "ls"])[0]
    assert volume_ls is not None and volume_ls.name == "volume ls"
    assert lookup(["image", "bootstrap"])[0] is not None
    assert lookup(["nosuch"])[0] is None


def test_every_handler_exists() -> None:
    import importlib

    for command in COMMANDS:
        module_name, func = command.handler.split(":")
        module = importlib.import_module(f"dockyard.cli.commands.{module_name}")
        assert callable(getattr(module, func)), command.name
        Parser(command).help_text()  # renders without error
