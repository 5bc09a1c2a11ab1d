"""What users may configure in JupyterLab: `spec.args` and `spec.env` names.

One source of truth for the CRD (CEL rules generated from the patterns below, in
`api.models`), the webhook and the CLI (the pydantic validators calling `arg_problem` and
`env_problem`), and the operator's builder. Pure.

By design, not by spelling:

- **Arguments** are an allowlist. An argument that starts with `-` must be
  `--Class.trait=value` (or `--Class.trait` followed by its value as the next argument)
  whose class is one of `USER_CLASSES` (kernel, kernel spec, session, contents and
  terminal managers: nothing of theirs decides who may connect) and whose trait does not
  choose code (`*_class`, `*_hook`, ... in `CODE_TRAIT_SUFFIXES`), or one of the
  explicitly allowed traits of `USER_TRAITS` (ServerApp limits, directories, timeouts;
  LabApp UI), or one of the `USER_FLAGS`. Everything else is refused: authentication and
  identity (IdentityProvider, token, password, authorizer), origin and XSRF checks,
  networking (ip, port, sock, certificates), configuration files and extension loading.
  traitlets applies a class's config to every subclass, so no class of `USER_CLASSES` is
  a base of anything security-relevant (never LoggingConfigurable, Application,
  JupyterApp, ...). An argument that does not start with `-` is a value or a positional
  (a directory or file to open): the platform's own arguments come first, so it is never
  the subcommand position.
- **Variables** whose names the Python interpreter, the dynamic loader, the shell, the
  Docker Stacks start scripts or Jupyter read to choose code or configuration are
  platform-owned (`PLATFORM_ENV_PREFIXES`, `PLATFORM_ENV_NAMES`).
- **Pinned by the platform** (builders): the security traits on JupyterLab's command line
  (command-line config beats config files) and the variables that say where configuration
  and code are read: JUPYTER_CONFIG_DIR to a platform directory (so ~/.jupyter on the
  user's volume is never read) and PYTHONNOUSERSITE=1 (so ~/.local site-packages, .pth
  files and ~/.local/etc/jupyter are never used by the server).
"""

from __future__ import annotations

import re

#: Classes whose every trait (except the code-choosing ones) users may set. Not the single
#: kernel's KernelManager: its ip and transport put the kernel's ports on the network.
USER_CLASSES: tuple[str, ...] = (
    "MultiKernelManager",
    "MappingKernelManager",
    "AsyncMultiKernelManager",
    "AsyncMappingKernelManager",
    "KernelSpecManager",
    "SessionManager",
    "ContentsManager",
    "AsyncContentsManager",
    "FileContentsManager",
    "AsyncFileContentsManager",
    "LargeFileManager",
    "AsyncLargeFileManager",
    "FileManagerMixin",
    "TerminalManager",
    "ZMQChannelsWebsocketConnection",
)
#: Traits that name a class, a callable or a command to load: never settable, even in
#: `USER_CLASSES` (e.g. ContentsManager.pre_save_hook, MappingKernelManager.kernel_manager_class).
CODE_TRAIT_SUFFIXES: tuple[str, ...] = ("_class", "_classes", "_hook", "_factory", "_cmd")
#: Individual traits of other classes users may set.
USER_TRAITS: dict[str, tuple[str, ...]] = {
    "ServerApp": (
        "iopub_data_rate_limit",
        "iopub_msg_rate_limit",
        "rate_limit_window",
        "max_body_size",
        "max_buffer_size",
        "shutdown_no_activity_timeout",
        "terminals_enabled",
        # The terminal's shell (the user's own, behind the token).
        "terminado_settings",
        "root_dir",
        "preferred_dir",
        "open_browser",
        "quit_button",
        "log_level",
    ),
    "LabApp": (
        "log_level",
        "expose_app_in_browser",
    ),
}
#: Flags (no value) and aliases (`--alias=value`) users may give.
USER_FLAGS: tuple[str, ...] = ("--no-browser", "--debug", "--expose-app-in-browser")
USER_ALIASES: tuple[str, ...] = ("--log-level", "--notebook-dir", "--preferred-dir")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_VALUE = r"(=.*)?"


def _alternatives(items: tuple[str, ...] | list[str]) -> str:
    return "(" + "|".join(re.escape(item) for item in items) + ")"


#: Patterns of allowed arguments (whole-string matches; RE2 and Python `re` agree on them).
#: An argument is allowed when it does not start with '-', or matches one of ALLOWED and
#: not CODE_TRAIT.
ALLOWED_ARG_PATTERNS: tuple[str, ...] = (
    rf"--{_alternatives(USER_CLASSES)}\.{_IDENT}{_VALUE}",
    *(rf"--{cls}\.{_alternatives(traits)}{_VALUE}" for cls, traits in USER_TRAITS.items()),
    _alternatives(USER_FLAGS),
    rf"{_alternatives(USER_ALIASES)}=.*",
)
CODE_TRAIT_PATTERN = rf"--{_IDENT}\.{_IDENT}{_alternatives(CODE_TRAIT_SUFFIXES)}{_VALUE}"


def anchored(pattern: str) -> str:
    """`pattern` as a whole-string match for CEL's `matches` (RE2 `$` is end of text)."""
    return f"^({pattern})$"


def arg_allowed(arg: str) -> bool:
    if not arg.startswith("-"):
        return True
    if re.fullmatch(CODE_TRAIT_PATTERN, arg):
        return False
    return any(re.fullmatch(p, arg) for p in ALLOWED_ARG_PATTERNS)


def msg_arg_not_allowed(arg: str) -> str:
    return (
        f"{arg!r} is not a JupyterLab argument users may set: the platform owns "
        "authentication, origin and XSRF checks, networking, configuration files and "
        "extension loading. Allowed: --Class.trait=value for the kernel, kernel spec, "
        "session, contents and terminal managers (not *_class/*_hook traits), "
        "--ServerApp.TRAIT for limits, directories and timeouts (iopub_data_rate_limit, "
        "max_body_size, shutdown_no_activity_timeout, root_dir, ...), LabApp UI traits, and "
        f"{', '.join(USER_FLAGS + USER_ALIASES)}; remove it (docs/admission.md)."
    )


def arg_problem(arg: str) -> str | None:
    """Why a user may not give `arg` (the message, without the field path), or None."""
    return None if arg_allowed(arg) else msg_arg_not_allowed(arg)


# ---------------------------------------------------------------- pinned by the platform

#: Where JupyterLab reads its user configuration (JUPYTER_CONFIG_DIR): a platform path
#: outside the home volume that the image does not have, so no user config is read.
#: The image's own system directories ({sys.prefix}/etc/jupyter, /usr/local/etc/jupyter,
#: /etc/jupyter) are still read: they belong to the image, not to the user's volume.
PLATFORM_CONFIG_DIR = "/etc/jupyter-containers/config"

#: Variables the platform sets on every pod (after its own JUPYTER_ENABLE_LAB/RESTARTABLE).
PINNED_ENV: dict[str, str] = {
    # Not ~/.jupyter on the user's volume: a jupyter_server_config.py there is Python code
    # run by the server at start-up, before any command-line setting applies.
    "JUPYTER_CONFIG_DIR": PLATFORM_CONFIG_DIR,
    # No user site (~/.local/lib/python3.X/site-packages): its .pth files run code in the
    # server, and jupyter_core adds ~/.local/etc/jupyter to the config path while it is on.
    "PYTHONNOUSERSITE": "1",
}

#: The class of the identity provider and authorizer the token login needs (the defaults).
IDENTITY_PROVIDER = "jupyter_server.auth.identity.PasswordIdentityProvider"
AUTHORIZER = "jupyter_server.auth.authorizer.AllowAllAuthorizer"
LOGIN_HANDLER = "jupyter_server.auth.login.LegacyLoginHandler"


def pinned_args(token: str, home: str) -> list[str]:
    """Security traits pinned on the command line, after the platform's ip/port/base_url.

    Command-line config has priority over config files within a section; traitlets merges
    a subclass's section after its bases', so the token is also pinned on the identity
    provider class itself (a `PasswordIdentityProvider.token` in some config file would
    otherwise beat `IdentityProvider.token`).
    """
    return [
        f"--ServerApp.identity_provider_class={IDENTITY_PROVIDER}",
        f"--ServerApp.authorizer_class={AUTHORIZER}",
        # A non-default login handler switches jupyter_server to its legacy authentication.
        f"--ServerApp.login_handler_class={LOGIN_HANDLER}",
        f"--PasswordIdentityProvider.token={token}",
        "--PasswordIdentityProvider.hashed_password=",
        "--PasswordIdentityProvider.password_required=False",
        "--PasswordIdentityProvider.allow_password_change=False",
        "--ServerApp.allow_unauthenticated_access=False",
        "--ServerApp.disable_check_xsrf=False",
        "--ServerApp.allow_origin_pat=",
        "--ServerApp.allow_credentials=False",
        # JupyterLab keeps these under the config directory by default, which is now the
        # platform's (read-only in the pod): keep them on the user's volume. JSON read by the
        # browser, not by the server's Python.
        f"--LabApp.user_settings_dir={home}/.jupyter/lab/user-settings",
        f"--LabApp.workspaces_dir={home}/.jupyter/lab/workspaces",
    ]


# ---------------------------------------------------------------- environment

#: Variable name prefixes the platform owns: Jupyter's and JupyterHub's (config, data and
#: runtime paths, JUPYTER_NO_CONFIG, tokens), Python's (PYTHONPATH, PYTHONSTARTUP,
#: PYTHONUSERBASE, ...), the dynamic loader's (LD_PRELOAD, LD_LIBRARY_PATH), conda's.
PLATFORM_ENV_PREFIXES: tuple[str, ...] = (
    "JUPYTER",
    "JPY_",
    "PYTHON",
    "LD_",
    "CONDA",
    "DOCKER_STACKS_",
    "IPYTHON",
    "XDG_",
)
#: Exact names the platform owns: its own variables (the token, JUPYTER_ENABLE_LAB and
#: RESTARTABLE are under JUPYTER... or listed here), where the home and programs are, what
#: bash sources, and the Docker Stacks start scripts' switches (NOTEBOOK_ARGS appends
#: arguments past the argument policy).
PLATFORM_ENV_NAMES: tuple[str, ...] = (
    "HOME",
    "PATH",
    "SHELL",
    "BASH_ENV",
    "ENV",
    "IFS",
    "GCONV_PATH",
    "RESTARTABLE",
    "NOTEBOOK_ARGS",
    "GEN_CERT",
    "NB_USER",
    "NB_UID",
    "NB_GID",
    "NB_UMASK",
    "CHOWN_HOME",
    "CHOWN_HOME_OPTS",
    "CHOWN_EXTRA",
    "CHOWN_EXTRA_OPTS",
    "GRANT_SUDO",
)


def env_owned(name: str) -> bool:
    return name in PLATFORM_ENV_NAMES or name.startswith(PLATFORM_ENV_PREFIXES)


def msg_env_owned(name: str) -> str:
    return (
        f"{name!r} is set by the platform and cannot be set or overridden: variables that "
        "choose where Jupyter, Python, the loader or the shell read code or configuration "
        f"belong to the platform (names starting with {', '.join(PLATFORM_ENV_PREFIXES)}, "
        f"and {', '.join(PLATFORM_ENV_NAMES)}); use another name."
    )


def env_problem(name: str) -> str | None:
    return msg_env_owned(name) if env_owned(name) else None
