"""jupyterlab_policy: the arguments and variable names users may set (table-driven)."""

from __future__ import annotations

import re

import pytest

from jupyter_containers.api import jupyterlab_policy as policy

ALLOWED_ARGS = [
    "--ServerApp.iopub_data_rate_limit=1e10",
    "--ServerApp.iopub_msg_rate_limit=3000",
    "--ServerApp.max_body_size=1073741824",
    "--ServerApp.shutdown_no_activity_timeout=3600",
    "--ServerApp.terminals_enabled=False",
    "--ServerApp.root_dir=/home/jovyan/work",
    "--ServerApp.preferred_dir=/home/jovyan/work",
    "--MappingKernelManager.cull_idle_timeout=3600",
    "--MappingKernelManager.cull_interval=300",
    "--AsyncMappingKernelManager.cull_connected=True",
    "--KernelSpecManager.ensure_native_kernel=False",
    "--FileContentsManager.delete_to_trash=False",
    "--ContentsManager.allow_hidden=True",
    "--TerminalManager.cull_inactive_timeout=600",
    "--LabApp.expose_app_in_browser=True",
    "--MappingKernelManager.cull_idle_timeout",  # its value as the next argument
    "3600",
    "--no-browser",
    "--debug",
    "--log-level=DEBUG",
    "--notebook-dir=/home/jovyan/work",
    "work/notebook.ipynb",
]

REFUSED_ARGS = [
    # authentication and identity
    "--IdentityProvider.token=",
    "--PasswordIdentityProvider.token=",
    "--PasswordIdentityProvider.hashed_password=x",
    "--ServerApp.token=",
    "--ServerApp.password=",
    "--ServerApp.identity_provider_class=x.Y",
    "--ServerApp.authorizer_class=x.Y",
    "--ServerApp.login_handler_class=x.Y",
    "--ServerApp.allow_unauthenticated_access=True",
    "--ServerApp.tornado_settings=disable_check_xsrf=True",
    # origin and XSRF
    "--ServerApp.disable_check_xsrf=True",
    "--ServerApp.allow_origin_pat=.*",
    "--ServerApp.allow_credentials=True",
    "--NotebookApp.allow_origin=*",
    # networking
    "--ServerApp.ip=0.0.0.0",
    "--sock=/tmp/s",
    "--certfile=/x",
    "--gateway-url=http://x",
    "--KernelManager.ip=0.0.0.0",
    "--transport=ipc",
    # configuration and extension loading, code
    "--config=/home/jovyan/c.py",
    "--ServerApp.config_file=/home/jovyan/c.py",
    "--JupyterApp.config_file=/home/jovyan/c.py",
    "--Application.log_level=0",
    "--LoggingConfigurable.token=",
    "--ServerApp.jpserver_extensions=evil=True",
    "--LabApp.dev_mode=True",
    "--LabApp.app_dir=/home/jovyan/app",
    "--ContentsManager.pre_save_hook=os.system",
    "--FileContentsManager.post_save_hook=os.system",
    "--MappingKernelManager.kernel_manager_class=x.Y",
    "--ContentsManager.checkpoints_class=x.Y",
    "--autoreload",
    "--generate-config",
    "-y",
    "--",
    "--no-browser=1",
    "--debug\n",
    "--log-level",
    "--no-brow",
]


@pytest.mark.parametrize("arg", ALLOWED_ARGS)
def test_allowed_args(arg: str) -> None:
    assert policy.arg_problem(arg) is None


@pytest.mark.parametrize("arg", REFUSED_ARGS)
def test_refused_args(arg: str) -> None:
    assert policy.arg_problem(arg) == policy.msg_arg_not_allowed(arg)


@pytest.mark.parametrize("arg", ALLOWED_ARGS + REFUSED_ARGS)
def test_the_cel_patterns_judge_alike(arg: str) -> None:
    """The CRD's patterns (anchored, RE2's `matches` is a search) agree with `arg_allowed`.

    Python's `re.search` stands in for RE2 here; the cluster test sends the same table to
    the real API server."""
    if not arg.startswith("-"):
        return
    code = re.search(policy.anchored(policy.CODE_TRAIT_PATTERN), arg) is not None
    listed = any(re.search(policy.anchored(p), arg) for p in policy.ALLOWED_ARG_PATTERNS)
    # Python's `$` also matches before a final newline, RE2's does not: the newline case
    # is refused by RE2 and by the fullmatch of arg_allowed alike.
    if arg.endswith("\n"):
        assert not policy.arg_allowed(arg)
        return
    assert (listed and not code) == policy.arg_allowed(arg)


def test_no_user_class_is_a_base_of_a_security_class() -> None:
    """traitlets applies a class's section to every subclass: an allowed class must never be
    a base of the server, its identity provider, authorizer or login handler."""
    from jupyter_server.auth.authorizer import AllowAllAuthorizer
    from jupyter_server.auth.identity import PasswordIdentityProvider
    from jupyter_server.auth.login import LegacyLoginHandler
    from jupyter_server.serverapp import ServerApp
    from jupyterlab.labapp import LabApp

    for cls in (ServerApp, LabApp, PasswordIdentityProvider, AllowAllAuthorizer):
        bases = {c.__name__ for c in cls.__mro__}
        assert not bases & set(policy.USER_CLASSES), cls
    assert not {c.__name__ for c in LegacyLoginHandler.__mro__} & set(policy.USER_CLASSES)


def test_allowed_traits_exist_and_choose_no_code() -> None:
    from jupyter_server.serverapp import ServerApp
    from jupyterlab.labapp import LabApp
    from traitlets import Type

    for cls, name in (("ServerApp", ServerApp), ("LabApp", LabApp)):
        traits = name.class_traits(config=True)
        for trait in policy.USER_TRAITS[cls]:
            assert trait in traits, f"{cls}.{trait}"
            assert not isinstance(traits[trait], Type), f"{cls}.{trait}"


@pytest.mark.parametrize(
    ("name", "owned"),
    [
        ("JUPYTER_CONFIG_DIR", True),
        ("JUPYTER_CONFIG_PATH", True),
        ("JUPYTER_NO_CONFIG", True),
        ("JUPYTER_PREFER_ENV_PATH", True),
        ("JUPYTER_SERVER_ALLOW_UNAUTHENTICATED_ACCESS", True),
        ("JUPYTER_TOKEN_FILE", True),
        ("JUPYTERHUB_API_TOKEN", True),
        ("JPY_API_TOKEN", True),
        ("PYTHONPATH", True),
        ("PYTHONSTARTUP", True),
        ("PYTHONUSERBASE", True),
        ("PYTHONNOUSERSITE", True),
        ("LD_PRELOAD", True),
        ("LD_LIBRARY_PATH", True),
        ("HOME", True),
        ("PATH", True),
        ("BASH_ENV", True),
        ("NOTEBOOK_ARGS", True),
        ("DOCKER_STACKS_JUPYTER_CMD", True),
        ("XDG_CONFIG_HOME", True),
        ("IPYTHONDIR", True),
        ("CONDA_PREFIX", True),
        ("DB_PASSWORD", False),
        ("MY_PYTHONPATH", False),
        ("OMP_NUM_THREADS", False),
        ("TZ", False),
        ("HOMEPAGE", False),
    ],
)
def test_env_names(name: str, owned: bool) -> None:
    assert policy.env_owned(name) is owned
    assert (policy.env_problem(name) is not None) is owned


def test_pinned_env_is_platform_owned() -> None:
    # Users can never override what the platform pins.
    assert all(policy.env_owned(name) for name in policy.PINNED_ENV)
    assert policy.PINNED_ENV["PYTHONNOUSERSITE"] == "1"
    assert not policy.PINNED_ENV["JUPYTER_CONFIG_DIR"].startswith("/home/")


def test_pinned_args_are_refused_to_users() -> None:
    for arg in policy.pinned_args("$(JUPYTER_TOKEN)", "/home/jovyan"):
        assert policy.arg_problem(arg) is not None, arg
