"""`create` and `configure`: every field as a flag, or the guided flow in a terminal."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.text import Text

from jupyter_containers.api import rules
from jupyter_containers.api.models import JupyterContainerSpec, Phase, configuration_changes
from jupyter_containers.cli import render, spec
from jupyter_containers.cli.checks import Checker
from jupyter_containers.cli.cluster import Kube
from jupyter_containers.cli.confirm import confirm
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.errors import CliError, UsageError
from jupyter_containers.cli.guided import Draft, GuidedFlow
from jupyter_containers.cli.options import (
    NameArg,
    ObjectOutputOpt,
    YesOpt,
    cluster_options,
    state_of,
)
from jupyter_containers.cli.start_stop import wait_started
from jupyter_containers.core import validation

Obj = dict[str, Any]
GENERAL_PANEL = "General"
CONFIG_PANEL = "Configurations"
TAGS_PANEL = "Tags"

DeployNamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--deploy-namespace",
        help="Namespace to deploy into (default: the domain itself). Must be available to you.",
        rich_help_panel=GENERAL_PANEL,
        show_default=False,
    ),
]
InstanceTypeOpt = Annotated[
    str | None,
    typer.Option(
        help="InstanceType (CPU and memory); default: the first available one.",
        rich_help_panel=GENERAL_PANEL,
        show_default=False,
    ),
]
VolumeOpt = Annotated[
    str | None,
    typer.Option(
        help="Volume mounted at /home/jovyan (On Demand PVC or NFS). Without one, files are "
        "lost when the container stops.",
        rich_help_panel=GENERAL_PANEL,
        show_default=False,
    ),
]
ImageOpt = Annotated[
    str | None,
    typer.Option(
        help="JupyterImage of the catalog, by name (`kubectl jupyter catalog` lists yours; "
        "default: the catalog's default image, else the platform's).",
        rich_help_panel=GENERAL_PANEL,
        show_default=False,
    ),
]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        "-e",
        metavar="NAME=VALUE",
        help="Environment variable (repeatable).",
        rich_help_panel=CONFIG_PANEL,
        show_default=False,
    ),
]
EnvSecretOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env-from-secret",
        metavar="NAME=SECRET:KEY",
        help="Environment variable from a key of a Secret in the deployment namespace "
        "(repeatable).",
        rich_help_panel=CONFIG_PANEL,
        show_default=False,
    ),
]
ArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        metavar="ARG",
        help="Extra JupyterLab argument, e.g. --arg=--ServerApp.iopub_data_rate_limit=1e10 "
        "(repeatable).",
        rich_help_panel=CONFIG_PANEL,
        show_default=False,
    ),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        metavar="KEY=VALUE",
        help="Resource tag (repeatable).",
        rich_help_panel=TAGS_PANEL,
        show_default=False,
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Server-side dry run: validated, nothing is stored.")
]
GuidedOpt = Annotated[
    bool | None,
    typer.Option(
        "--guided/--no-guided",
        help="Force the guided prompts on or off (default: on in a terminal when required "
        "values are missing).",
        show_default=False,
    ),
]


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _check_all(checker: Checker, spec_dict: Obj, **kwargs: Any) -> None:
    """The General-tab checks; all problems at once, in the server's words."""
    problems = checker.general(spec_dict, **kwargs)
    if problems:
        raise CliError("\n".join(problems))


#: Volume growth (docs/volume-growth.md).
VolumeSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--volume-size",
        metavar="SIZE",
        help="Size of the On Demand PVC, e.g. 20Gi: at most the Volume's maxSize (the default). "
        "Raised by configure, it grows the PVC in place where its StorageClass allows "
        "expansion; it never shrinks.",
        rich_help_panel=GENERAL_PANEL,
        show_default=False,
    ),
]


CREATE_EPILOG = """Examples:
  kubectl jupyter create                                   # guided, in a terminal
  kubectl jupyter create nb1 --bundle team                 # defaults for the rest
  kubectl jupyter create nb1 --bundle team --instance-type large --volume home \\
      -e MODE=dev --env-from-secret TOKEN=api-keys:token --tag owner=alice
  kubectl jupyter create nb1 --bundle team --dry-run -o yaml
"""


@cluster_options
def create(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            help="Name: lowercase letters, digits and '-', at most 53 characters.",
            show_default=False,
        ),
    ] = None,
    bundle: Annotated[
        str | None,
        typer.Option(
            help="ResourceBundle (same namespace) controlling access. Cannot change later.",
            rich_help_panel=GENERAL_PANEL,
            show_default=False,
        ),
    ] = None,
    deploy_namespace: DeployNamespaceOpt = None,
    instance_type: InstanceTypeOpt = None,
    volume: VolumeOpt = None,
    volume_size: VolumeSizeOpt = None,
    image: ImageOpt = None,
    env: EnvOpt = None,
    env_from_secret: EnvSecretOpt = None,
    arg: ArgOpt = None,
    tag: TagOpt = None,
    start: Annotated[
        bool, typer.Option("--start/--no-start", help="Start it right after creation.")
    ] = True,
    dry_run: DryRunOpt = False,
    guided: GuidedOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until Active (or Failed).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.", min=1)] = 600,
    output: ObjectOutputOpt = None,
) -> None:
    """Create a Jupyter container (it starts automatically)."""
    kube = state_of(ctx).kube()
    repo = Containers(kube)
    checker = Checker(repo)
    draft = Draft(
        name=name,
        bundle=bundle,
        namespace=deploy_namespace,
        instance_type=instance_type,
        volume=volume,
        image=image,
        env=spec.plain_env(env or []) + spec.secret_env(env_from_secret or []),
        args=list(arg or []),
        tags=spec.tags_from(tag or []),
        running=start,
        volume_size=volume_size,
    )
    missing = [flag for flag, value in (("NAME", name), ("--bundle", bundle)) if not value]
    use_guided = guided if guided is not None else bool(missing) and _interactive()
    if use_guided and not _interactive():
        raise UsageError("--guided needs a terminal (stdin and stdout).")

    def server_check(candidate: Draft) -> list[str]:
        try:
            repo.create(_manifest(candidate, kube.domain), dry_run=True)
        except CliError as exc:
            return exc.message.splitlines()
        return []

    if use_guided:
        flow = GuidedFlow(render.console(), checker, draft, server_check=server_check)
        draft = flow.run()
    else:
        if missing:
            raise UsageError(
                f"Missing {' and '.join(missing)}: give {'them' if len(missing) > 1 else 'it'} "
                "on the command line, or run `kubectl jupyter create` in a terminal for the "
                "guided flow."
            )
        spec.check_name(draft.name or "")
        spec_dict = spec.to_dict(spec.validate(draft.spec()))
        if not draft.instance_type:
            draft.instance_type = checker.default_instance_type()
            if draft.instance_type is None:
                raise CliError("The catalog offers no instance type; ask an admin to add one.")
        _check_all(checker, {**spec_dict, "instanceType": draft.instance_type}, name=draft.name)
    created = repo.create(_manifest(draft, kube.domain), dry_run=dry_run)
    if output is not None and not wait:
        render.dump(created, str(output))
        return
    out = render.console()
    where = draft.namespace or kube.domain
    if dry_run:
        out.print(
            f"Jupyter container '{draft.name}' is valid (server dry run; nothing was created)."
        )
        return
    out.print(
        f"Jupyter container '{draft.name}' created in namespace '{kube.domain}' "
        f"(deploying to '{where}')."
    )
    if wait and start:
        created = wait_started(kube, draft.name or "", timeout, request=None, resource_version=None)
        if output is not None:
            render.dump(created, str(output))
            return
        out.print(f"'{draft.name}' is Active.")
    elif start:
        out.print(f"Follow it with: kubectl jupyter watch {draft.name}")


def _manifest(draft: Draft, domain: str) -> Obj:
    return spec.manifest(draft.name or "", domain, spec.validate(draft.spec()))


CONFIGURE_EPILOG = """Examples:
  kubectl jupyter configure nb1                            # guided, in a terminal
  kubectl jupyter configure nb1 --instance-type large
  kubectl jupyter configure nb1 -e MODE=prod --remove-env DEBUG --remove-tag old
  kubectl jupyter configure nb1 --volume home-large --yes  # data-loss confirmation skipped
  kubectl jupyter configure nb1 --volume-size 20Gi         # grow the On Demand PVC in place
"""


@cluster_options
def configure(
    ctx: typer.Context,
    name: NameArg,
    bundle: Annotated[
        str | None,
        typer.Option(help="Read-only: refused unless unchanged.", hidden=True, show_default=False),
    ] = None,
    deploy_namespace: DeployNamespaceOpt = None,
    instance_type: InstanceTypeOpt = None,
    volume: VolumeOpt = None,
    no_volume: Annotated[
        bool, typer.Option("--no-volume", help="Detach the volume.", rich_help_panel=GENERAL_PANEL)
    ] = False,
    volume_size: VolumeSizeOpt = None,
    image: ImageOpt = None,
    default_image: Annotated[
        bool,
        typer.Option(
            "--default-image", help="Use the platform image again.", rich_help_panel=GENERAL_PANEL
        ),
    ] = False,
    env: EnvOpt = None,
    env_from_secret: EnvSecretOpt = None,
    remove_env: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME", help="Remove a variable (repeatable).", rich_help_panel=CONFIG_PANEL
        ),
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            metavar="ARG",
            help="Replace the extra JupyterLab arguments with these (repeatable).",
            rich_help_panel=CONFIG_PANEL,
            show_default=False,
        ),
    ] = None,
    clear_args: Annotated[
        bool,
        typer.Option(
            "--clear-args", help="Remove every extra argument.", rich_help_panel=CONFIG_PANEL
        ),
    ] = False,
    tag: TagOpt = None,
    remove_tag: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY", help="Remove a tag (repeatable).", rich_help_panel=TAGS_PANEL),
    ] = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    guided: GuidedOpt = None,
    output: ObjectOutputOpt = None,
) -> None:
    """Change a Stopped or Failed container. Name and bundle are read-only."""
    kube = state_of(ctx).kube()
    repo = Containers(kube)
    checker = Checker(repo)
    jc = repo.get(name)
    status = jc.get("status") or {}
    phase = status.get("phase")
    running = (jc.get("spec") or {}).get("running", True)
    if phase in (Phase.STARTING, Phase.ACTIVE) or (phase is None and running):
        raise CliError(
            rules.MSG_STOP_BEFORE_CONFIGURING,
            hint=f"Terminate it first: kubectl jupyter terminate {name}",
        )
    old_spec = dict(jc.get("spec") or {})
    if bundle is not None and bundle != old_spec.get("bundle"):
        raise UsageError(rules.MSG_BUNDLE_IMMUTABLE)
    changes = spec.Changes(
        deploy_namespace=deploy_namespace,
        instance_type=instance_type,
        volume=volume,
        no_volume=no_volume,
        image=image,
        default_image=default_image,
        env=spec.plain_env(env or []) + spec.secret_env(env_from_secret or []),
        remove_env=remove_env or (),
        args=[] if clear_args else (list(arg) if arg else None),
        tags=spec.tags_from(tag or []),
        remove_tags=remove_tag or (),
        volume_size=volume_size,
    )
    if clear_args and arg:
        raise UsageError("--arg and --clear-args contradict each other; give one.")
    use_guided = guided if guided is not None else (not changes.any() and _interactive())
    if use_guided and not _interactive():
        raise UsageError("--guided needs a terminal (stdin and stdout).")

    def pvc_kept(draft: Draft) -> bool:
        # The existing PVC already counts against the quota when neither moves.
        return draft.volume == old_spec.get("volume") and draft.namespace == old_spec.get(
            "namespace"
        )

    if use_guided:

        def server_check(candidate: Draft) -> list[str]:
            try:
                repo.replace(_with_spec(jc, candidate.spec()), dry_run=True)
            except CliError as exc:
                return exc.message.splitlines()
            return []

        draft = GuidedFlow(
            render.console(),
            checker,
            Draft.from_object(jc),
            server_check=server_check,
            editing=True,
            existing_pvc=pvc_kept,
        ).run()
        new_spec = draft.spec()
    elif not changes.any():
        raise UsageError(
            "Nothing to change: pass flags such as --instance-type or --env, or run in a "
            "terminal for the guided form."
        )
    else:
        new_spec = spec.apply_changes(old_spec, changes)
    old_model = spec.validate(old_spec)
    new_model = spec.validate(new_spec)
    changed = configuration_changes(old_model, new_model)
    out = render.console()
    if not changed:
        out.print(f"No changes to '{name}'.")
        return
    if not use_guided:
        fields = tuple(f for f in ("namespace", "instanceType", "volume") if f in changed)
        if fields:
            _check_all(
                checker,
                {
                    **spec.to_dict(new_model),
                    "instanceType": new_model.instanceType or checker.default_instance_type(),
                },
                existing_pvc=pvc_kept(
                    Draft(volume=new_model.volume, namespace=new_model.namespace)
                ),
                fields=fields,
            )
    _confirm_data_loss(
        kube,
        checker,
        old_model,
        new_model,
        changed,
        name,
        yes=yes,
        old_pvc=(jc.get("status") or {}).get("pvcName"),
    )
    result = repo.replace(_with_spec(jc, spec.to_dict(new_model)), dry_run=dry_run)
    if output is not None:
        render.dump(result, str(output))
        return
    suffix = " (server dry run; nothing was saved)" if dry_run else ""
    out.print(f"Jupyter container '{name}' configured: {', '.join(changed)}{suffix}.")
    if not dry_run and phase == Phase.FAILED and (jc.get("spec") or {}).get("running", True):
        out.print(
            Text("A saved configuration starts a new attempt of a Failed container.", style="dim")
        )


def _with_spec(jc: Obj, new_spec: Obj) -> Obj:
    obj = {k: v for k, v in jc.items() if k != "status"}
    obj["metadata"] = {k: v for k, v in jc["metadata"].items() if k != "managedFields"}
    obj["spec"] = new_spec
    return obj


def _confirm_data_loss(
    kube: Kube,
    checker: Checker,
    old: JupyterContainerSpec,
    new: JupyterContainerSpec,
    changed: list[str],
    name: str,
    *,
    yes: bool,
    old_pvc: str | None,
) -> None:
    """The console's data-loss warning for a namespace or volume change, to be confirmed."""
    moving = [f for f in ("namespace", "volume") if f in changed]
    if not moving:
        return
    # The webhook's own warnings: an On Demand PVC is deleted and recreated.
    warnings = validation.data_loss_warnings(
        name, kube.domain, old, new, checker.catalog[1], old_pvc=old_pvc
    )
    what = " and ".join("the namespace" if f == "namespace" else "the volume" for f in moving)
    text = " ".join(warnings) or (
        f"Changing {what} of '{name}' redeploys it: any unsaved data in the container is lost."
    )
    confirm(text, "Yes, change it", yes=yes)
    if not yes:
        kube.already_shown(warnings)  # read in the confirmation; the server repeats them
