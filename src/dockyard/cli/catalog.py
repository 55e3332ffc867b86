"""Every command's name, usage and flags (data only), and the management-command aliases."""

from __future__ import annotations

from dockyard.cli.flags import BOOL, INT, LIST, STR, Command, Flag
from dockyard.cli.runopts import CREATE_FLAGS, RUN_FLAGS

FORMAT = Flag("format", "", STR, "Format output using a custom template")
FORMAT_F = Flag("format", "f", STR, "Format output using a custom template")
FILTER = Flag("filter", "f", LIST, "Filter output based on conditions provided")
QUIET = Flag("quiet", "q", BOOL, "Only display IDs")
NO_TRUNC = Flag("no-trunc", "", BOOL, "Don't truncate output")
FORCE_PROMPT = Flag("force", "f", BOOL, "Do not prompt for confirmation")
TIME = Flag("time", "t", INT, "Seconds to wait before killing the container", default=-1)
SIGNAL = Flag("signal", "s", STR, "Signal to send to the container")

_C = "containers"
_I = "images"
_V = "volumes"
_S = "system"

COMMANDS: tuple[Command, ...] = (
    # ------------------------------------------------------------------ containers
    Command(
        "run",
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create and run a new container from an image",
        f"{_C}:run",
        RUN_FLAGS,
        min_args=1,
        interspersed=False,
        aliases=("container run", "run"),
    ),
    Command(
        "create",
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create a new container",
        f"{_C}:create",
        CREATE_FLAGS,
        min_args=1,
        interspersed=False,
        aliases=("container create", "create"),
    ),
    Command(
        "start",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Start one or more stopped containers",
        f"{_C}:start",
        (
            Flag("attach", "a", BOOL, "Attach STDOUT/STDERR and forward signals"),
            Flag("interactive", "i", BOOL, "Attach container's STDIN"),
            Flag("detach-keys", "", STR, "Override the key sequence for detaching"),
        ),
        min_args=1,
    ),
    Command(
        "stop",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Stop one or more running containers",
        f"{_C}:stop",
        (SIGNAL, TIME),
        min_args=1,
    ),
    Command(
        "restart",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Restart one or more containers",
        f"{_C}:restart",
        (SIGNAL, TIME),
        min_args=1,
    ),
    Command(
        "kill",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Kill one or more running containers",
        f"{_C}:kill",
        (Flag("signal", "s", STR, "Signal to send to the container"),),
        min_args=1,
    ),
    Command(
        "rm",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Remove one or more containers",
        f"{_C}:rm",
        (
            Flag("force", "f", BOOL, "Force the removal of a running container"),
            Flag("volumes", "v", BOOL, "Remove anonymous volumes associated with the container"),
            Flag("link", "l", BOOL, "Remove the specified link"),
        ),
        min_args=1,
    ),
    Command(
        "ps",
        "[OPTIONS]",
        "List containers",
        f"{_C}:ps",
        (
            Flag("all", "a", BOOL, "Show all containers (default shows just running)"),
            FILTER,
            FORMAT,
            Flag(
                "last", "n", INT, "Show n last created containers (includes all states)", default=-1
            ),
            Flag("latest", "l", BOOL, "Show the latest created container (includes all states)"),
            NO_TRUNC,
            QUIET,
            Flag("size", "s", BOOL, "Display total file sizes"),
        ),
        max_args=0,
    ),
    Command(
        "logs",
        "[OPTIONS] CONTAINER",
        "Fetch the logs of a container",
        f"{_C}:logs",
        (
            Flag("details", "", BOOL, "Show extra details provided to logs"),
            Flag("follow", "f", BOOL, "Follow log output"),
            Flag("since", "", STR, "Show logs since timestamp or relative (e.g. 42m)"),
            Flag(
                "tail", "n", STR, "Number of lines to show from the end of the logs", default="all"
            ),
            Flag("timestamps", "t", BOOL, "Show timestamps"),
            Flag("until", "", STR, "Show logs before a timestamp or relative (e.g. 42m)"),
        ),
        min_args=1,
        max_args=1,
    ),
    Command(
        "attach",
        "[OPTIONS] CONTAINER",
        "Attach local standard input, output, and error streams to a running container",
        f"{_C}:attach",
        (
            Flag("detach-keys", "", STR, "Override the key sequence for detaching"),
            Flag("no-stdin", "", BOOL, "Do not attach STDIN"),
            Flag("sig-proxy", "", BOOL, "Proxy all received signals to the process", default=True),
        ),
        min_args=1,
        max_args=1,
    ),
    Command(
        "exec",
        "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "Execute a command in a running container",
        f"{_C}:exec_",
        (
            Flag("detach", "d", BOOL, "Detached mode: run command in the background"),
            Flag("detach-keys", "", STR, "Override the key sequence for detaching"),
            Flag("env", "e", LIST, "Set environment variables"),
            Flag("env-file", "", LIST, "Read in a file of environment variables"),
            Flag("interactive", "i", BOOL, "Keep STDIN open even if not attached"),
            Flag("privileged", "", BOOL, "Give extended privileges to the command"),
            Flag("tty", "t", BOOL, "Allocate a pseudo-TTY"),
            Flag("user", "u", STR, "Username or UID"),
            Flag("workdir", "w", STR, "Working directory inside the container"),
        ),
        min_args=2,
        interspersed=False,
    ),
    Command(
        "inspect",
        "[OPTIONS] NAME|ID [NAME|ID...]",
        "Return low-level information on Docker objects",
        f"{_C}:inspect",
        (
            FORMAT_F,
            Flag("size", "s", BOOL, "Display total file sizes if the type is container"),
            Flag("type", "", STR, "Return JSON for specified type"),
        ),
        min_args=1,
    ),
    Command(
        "top",
        "CONTAINER [ps OPTIONS]",
        "Display the running processes of a container",
        f"{_C}:top",
        (),
        min_args=1,
        interspersed=False,
    ),
    Command(
        "stats",
        "[OPTIONS] [CONTAINER...]",
        "Display a live stream of container(s) resource usage statistics",
        f"{_C}:stats",
        (
            Flag("all", "a", BOOL, "Show all containers (default shows just running)"),
            FORMAT,
            Flag("no-stream", "", BOOL, "Disable streaming stats and only pull the first result"),
            NO_TRUNC,
        ),
    ),
    Command(
        "cp",
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdockyard cp [OPTIONS] "
        "SRC_PATH|- CONTAINER:DEST_PATH",
        "Copy files/folders between a container and the local filesystem",
        f"{_C}:cp",
        (
            Flag("archive", "a", BOOL, "Archive mode (copy all uid/gid information)"),
            Flag("follow-link", "L", BOOL, "Always follow symbol link in SRC_PATH"),
            Flag("quiet", "q", BOOL, "Suppress progress output during copy"),
        ),
        min_args=2,
        max_args=2,
    ),
    Command(
        "diff",
        "CONTAINER",
        "Inspect changes to files or directories on a container's filesystem",
        f"{_C}:diff",
        (),
        min_args=1,
        max_args=1,
    ),
    Command(
        "export",
        "[OPTIONS] CONTAINER",
        "Export a container's filesystem as a tar archive",
        f"{_C}:export",
        (Flag("output", "o", STR, "Write to a file, instead of STDOUT"),),
        min_args=1,
        max_args=1,
    ),
    Command(
        "commit",
        "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "Create a new image from a container's changes",
        f"{_C}:commit",
        (
            Flag("author", "a", STR, "Author"),
            Flag("change", "c", LIST, "Apply Dockerfile instruction to the created image"),
            Flag("message", "m", STR, "Commit message"),
            Flag("pause", "p", BOOL, "Pause container during commit", default=True),
        ),
        min_args=1,
        max_args=2,
    ),
    Command(
        "port",
        "CONTAINER [PRIVATE_PORT[/PROTO]]",
        "List port mappings or a specific mapping for the container",
        f"{_C}:port",
        (),
        min_args=1,
        max_args=2,
    ),
    Command(
        "update",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Update configuration of one or more containers",
        f"{_C}:update",
        tuple(
            f
            for f in CREATE_FLAGS
            if f.long
            in (
                "cpu-shares",
                "cpus",
                "cpuset-cpus",
                "cpuset-mems",
                "memory",
                "memory-reservation",
                "memory-swap",
                "pids-limit",
                "restart",
                "cpu-period",
                "cpu-quota",
            )
        ),
        min_args=1,
    ),
    Command(
        "pause",
        "CONTAINER [CONTAINER...]",
        "Pause all processes within one or more containers",
        f"{_C}:pause",
        (),
        min_args=1,
    ),
    Command(
        "unpause",
        "CONTAINER [CONTAINER...]",
        "Unpause all processes within one or more containers",
        f"{_C}:unpause",
        (),
        min_args=1,
    ),
    Command(
        "rename",
        "CONTAINER NEW_NAME",
        "Rename a container",
        f"{_C}:rename",
        (),
        min_args=2,
        max_args=2,
    ),
    Command(
        "wait",
        "CONTAINER [CONTAINER...]",
        "Block until one or more containers stop, then print their exit codes",
        f"{_C}:wait",
        (),
        min_args=1,
    ),
    Command(
        "container prune",
        "[OPTIONS]",
        "Remove all stopped containers",
        f"{_C}:prune",
        (FORCE_PROMPT, Flag("filter", "", LIST, "Provide filter values")),
        max_args=0,
    ),
    # ------------------------------------------------------------------ images
    Command(
        "images",
        "[OPTIONS] [REPOSITORY[:TAG]]",
        "List images",
        f"{_I}:images",
        (
            Flag("all", "a", BOOL, "Show all images (default hides intermediate images)"),
            Flag("digests", "", BOOL, "Show digests"),
            FILTER,
            FORMAT,
            NO_TRUNC,
            QUIET,
        ),
        max_args=1,
        aliases=("image ls", "image list", "images"),
    ),
    Command(
        "rmi",
        "[OPTIONS] IMAGE [IMAGE...]",
        "Remove one or more images",
        f"{_I}:rmi",
        (
            Flag("force", "f", BOOL, "Force removal of the image"),
            Flag("no-prune", "", BOOL, "Do not delete untagged parents"),
        ),
        min_args=1,
        aliases=("image rm", "image remove", "rmi"),
    ),
    Command(
        "image inspect",
        "[OPTIONS] IMAGE [IMAGE...]",
        "Display detailed information on one or more images",
        f"{_I}:inspect",
        (FORMAT_F,),
        min_args=1,
    ),
    Command(
        "history",
        "[OPTIONS] IMAGE",
        "Show the history of an image",
        f"{_I}:history",
        (
            FORMAT,
            Flag(
                "human", "H", BOOL, "Print sizes and dates in human readable format", default=True
            ),
            NO_TRUNC,
            QUIET,
        ),
        min_args=1,
        max_args=1,
        aliases=("image history", "history"),
    ),
    Command(
        "tag",
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        f"{_I}:tag",
        (),
        min_args=2,
        max_args=2,
        aliases=("image tag", "tag"),
    ),
    Command(
        "save",
        "[OPTIONS] IMAGE [IMAGE...]",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
        f"{_I}:save",
        (Flag("output", "o", STR, "Write to a file, instead of STDOUT"),),
        min_args=1,
        aliases=("image save", "save"),
    ),
    Command(
        "load",
        "[OPTIONS]",
        "Load an image from a tar archive or STDIN",
        f"{_I}:load",
        (
            Flag("input", "i", STR, "Read from tar archive file, instead of STDIN"),
            Flag("quiet", "q", BOOL, "Suppress the load output"),
        ),
        max_args=0,
        aliases=("image load", "load"),
    ),
    Command(
        "import",
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image",
        f"{_I}:import_",
        (
            Flag("change", "c", LIST, "Apply Dockerfile instruction to the created image"),
            Flag("message", "m", STR, "Set commit message for imported image"),
            Flag("platform", "", STR, "Set platform if server is multi-platform capable"),
        ),
        min_args=1,
        max_args=2,
        aliases=("image import", "import"),
    ),
    Command(
        "image prune",
        "[OPTIONS]",
        "Remove unused images",
        f"{_I}:prune",
        (
            Flag("all", "a", BOOL, "Remove all unused images, not just dangling ones"),
            Flag("filter", "", LIST, "Provide filter values"),
            FORCE_PROMPT,
        ),
        max_args=0,
    ),
    Command(
        "image bootstrap",
        "[NAME]",
        "Make the embedded base image (busybox) in the daemon's store",
        f"{_I}:bootstrap",
        (),
        max_args=1,
    ),
    Command(
        "pull",
        "[OPTIONS] NAME[:TAG|@DIGEST]",
        "Download an image from a registry",
        f"{_I}:pull",
        (
            Flag("all-tags", "a", BOOL, "Download all tagged images in the repository"),
            Flag("platform", "", STR, "Set platform if server is multi-platform capable"),
            Flag("quiet", "q", BOOL, "Suppress verbose output"),
        ),
        min_args=1,
        max_args=1,
        aliases=("image pull", "pull"),
    ),
    Command(
        "push",
        "[OPTIONS] NAME[:TAG]",
        "Upload an image to a registry",
        f"{_I}:push",
        (
            Flag("all-tags", "a", BOOL, "Push all tags of an image to the repository"),
            Flag("quiet", "q", BOOL, "Suppress verbose output"),
        ),
        min_args=1,
        max_args=1,
        aliases=("image push", "push"),
    ),
    Command(
        "search",
        "[OPTIONS] TERM",
        "Search registries for images",
        f"{_I}:search",
        (
            FILTER,
            FORMAT,
            Flag("limit", "", INT, "Max number of search results", default=25),
            NO_TRUNC,
        ),
        min_args=1,
        max_args=1,
    ),
    Command(
        "login",
        "[OPTIONS] [SERVER]",
        "Log in to a registry",
        f"{_I}:login",
        (
            Flag("password", "p", STR, "Password"),
            Flag("password-stdin", "", BOOL, "Take the password from stdin"),
            Flag("username", "u", STR, "Username"),
        ),
        max_args=1,
    ),
    Command("logout", "[SERVER]", "Log out from a registry", f"{_I}:logout", (), max_args=1),
    # ------------------------------------------------------------------ volumes
    Command(
        "volume create",
        "[OPTIONS] [VOLUME]",
        "Create a volume",
        f"{_V}:create",
        (
            Flag("driver", "d", STR, "Specify volume driver name", default="local"),
            Flag("label", "", LIST, "Set metadata for a volume"),
            Flag("name", "", STR, "Specify volume name", hidden=True),
            Flag("opt", "o", LIST, "Set driver specific options"),
        ),
        max_args=1,
    ),
    Command(
        "volume ls",
        "[OPTIONS]",
        "List volumes",
        f"{_V}:ls",
        (FILTER, FORMAT, QUIET),
        max_args=0,
        aliases=("volume ls", "volume list"),
    ),
    Command(
        "volume inspect",
        "[OPTIONS] VOLUME [VOLUME...]",
        "Display detailed information on one or more volumes",
        f"{_V}:inspect",
        (FORMAT_F,),
        min_args=1,
    ),
    Command(
        "volume rm",
        "[OPTIONS] VOLUME [VOLUME...]",
        "Remove one or more volumes",
        f"{_V}:rm",
        (Flag("force", "f", BOOL, "Force the removal of one or more volumes"),),
        min_args=1,
        aliases=("volume rm", "volume remove"),
    ),
    Command(
        "volume prune",
        "[OPTIONS]",
        "Remove unused local volumes",
        f"{_V}:prune",
        (
            Flag("all", "a", BOOL, "Remove all unused volumes, not just anonymous ones"),
            Flag("filter", "", LIST, "Provide filter values"),
            FORCE_PROMPT,
        ),
        max_args=0,
    ),
    # ------------------------------------------------------------------ system
    Command(
        "info",
        "[OPTIONS]",
        "Display system-wide information",
        f"{_S}:info",
        (FORMAT_F,),
        max_args=0,
        aliases=("system info", "info"),
    ),
    Command(
        "version",
        "[OPTIONS]",
        "Show the dockyard version information",
        f"{_S}:version",
        (FORMAT_F,),
        max_args=0,
    ),
    Command(
        "events",
        "[OPTIONS]",
        "Get real time events from the server",
        f"{_S}:events",
        (
            FILTER,
            FORMAT,
            Flag("since", "", STR, "Show all events created since timestamp"),
            Flag("until", "", STR, "Stream events until this timestamp"),
        ),
        max_args=0,
        aliases=("system events", "events"),
    ),
    Command(
        "system df",
        "[OPTIONS]",
        "Show docker disk usage",
        f"{_S}:df",
        (
            FORMAT,
            Flag("verbose", "v", BOOL, "Show detailed information on space usage"),
        ),
        max_args=0,
    ),
    Command(
        "system prune",
        "[OPTIONS]",
        "Remove unused data",
        f"{_S}:prune",
        (
            Flag("all", "a", BOOL, "Remove all unused images not just dangling ones"),
            Flag("filter", "", LIST, "Provide filter values"),
            FORCE_PROMPT,
            Flag("volumes", "", BOOL, "Prune anonymous volumes"),
        ),
        max_args=0,
    ),
    Command(
        "daemon",
        "stop|status",
        "Manage the dockyardd daemon",
        f"{_S}:daemon",
        (),
        min_args=1,
        max_args=1,
    ),
)

# Management-command spellings that are the same command as a top-level verb.
ALIASES: dict[str, str] = {
    "container ls": "ps",
    "container list": "ps",
    "container ps": "ps",
    "image ls": "images",
    "image list": "images",
    "image rm": "rmi",
    "image remove": "rmi",
    "image history": "history",
    "image tag": "tag",
    "image save": "save",
    "image load": "load",
    "image import": "import",
    "image pull": "pull",
    "image push": "push",
    "volume list": "volume ls",
    "volume remove": "volume rm",
    "system info": "info",
    "system events": "events",
    "container rm": "rm",
    "container remove": "rm",
    "container inspect": "inspect",
}
for _verb in (
    "run",
    "create",
    "start",
    "stop",
    "restart",
    "kill",
    "logs",
    "attach",
    "exec",
    "top",
    "stats",
    "cp",
    "diff",
    "export",
    "commit",
    "port",
    "update",
    "pause",
    "unpause",
    "rename",
    "wait",
):
    ALIASES[f"container {_verb}"] = _verb

GROUPS = ("container", "image", "volume", "system")


def lookup(words: list[str]) -> tuple[Command | None, int]:
    """The command named by the first one or two words, and how many words it used."""
    by_name = {c.name: c for c in COMMANDS}
    if len(words) >= 2 and words[0] in GROUPS:
        two = f"{words[0]} {words[1]}"
        two = ALIASES.get(two, two)
        if two in by_name:
            return by_name[two], 2
        return None, 2
    if words and words[0] in by_name and " " not in words[0]:
        return by_name[words[0]], 1
    return None, 1


def group_help(group: str) -> str:
    """`dockyard container` alone: the group's subcommands, as Docker lists them."""
    by_name = {c.name: c for c in COMMANDS}
    entries: dict[str, str] = {}
    for c in COMMANDS:
        if c.name.startswith(group + " "):
            entries[c.name.split(" ", 1)[1]] = c.summary
    for alias, target in ALIASES.items():
        word, _, sub = alias.partition(" ")
        if word == group and target in by_name and sub not in entries:
            entries[sub] = by_name[target].summary
    title = "dockyard" if group == "system" else f"{group}s"
    width = max(len(k) for k in entries) + 2
    lines = [f"Usage:  dockyard {group} COMMAND", "", f"Manage {title}", "", "Commands:"]
    lines += [f"  {name.ljust(width)}  {entries[name]}" for name in sorted(entries)]
    lines += ["", f"Run 'dockyard {group} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"
