"""The guided create/configure flow: the console's tabs as prompts, validated step by step.

General, Configurations, Tags, then Review & Create (Review & Save when configuring).
Every field is checked as it is entered, with the server's rules and messages
(`checks.Checker`); a step is left only when it is valid, and the review shows every
setting plus the resource cost against the namespace quota before anything is sent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.prompt import Prompt
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from jupyter_containers.api import jupyterlab_policy, rules
from jupyter_containers.api.models import EnvVar, JupyterContainerSpec
from jupyter_containers.cli import render
from jupyter_containers.cli.checks import Checker
from jupyter_containers.cli.errors import DeclinedError, UsageError
from jupyter_containers.cli.spec import split_pair, to_dict, validation_messages

GENERAL, CONFIGURATIONS, TAGS, REVIEW = range(4)


@dataclass
class Draft:
    """The form's values."""

    name: str | None = None
    bundle: str | None = None
    namespace: str | None = None
    instance_type: str | None = None
    volume: str | None = None
    image: str | None = None
    env: list[dict[str, Any]] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    running: bool = True
    volume_size: str | None = None  # kept as it is (configure --volume-size changes it)

    def spec(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bundle": self.bundle,
            "namespace": self.namespace,
            "instanceType": self.instance_type,
            "volume": self.volume,
            "image": self.image,
            "env": self.env,
            "args": self.args,
            "tags": self.tags,
            "running": self.running,
            "volumeSize": self.volume_size,
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_object(cls, jc: dict[str, Any]) -> Draft:
        spec = jc.get("spec") or {}
        return cls(
            name=jc["metadata"]["name"],
            bundle=spec.get("bundle"),
            namespace=spec.get("namespace"),
            instance_type=spec.get("instanceType"),
            volume=spec.get("volume"),
            image=spec.get("image"),
            env=copy.deepcopy(spec.get("env") or []),
            args=list(spec.get("args") or []),
            tags=dict(spec.get("tags") or {}),
            running=bool(spec.get("running", True)),
            volume_size=spec.get("volumeSize"),
        )


#: The server's verdict on the draft (a dry run): the messages, empty when accepted.
ServerCheck = Callable[[Draft], list[str]]


class GuidedFlow:
    def __init__(
        self,
        console: Console,
        checker: Checker,
        draft: Draft,
        *,
        server_check: ServerCheck,
        editing: bool = False,
        existing_pvc: Callable[[Draft], bool] = lambda _draft: False,
    ) -> None:
        self.out = console
        self.checker = checker
        self.draft = draft
        self.server_check = server_check
        self.editing = editing
        self.existing_pvc = existing_pvc
        self.steps = (
            "General",
            "Configurations",
            "Tags",
            "Review & Save" if editing else "Review & Create",
        )
        self.domain = checker.domain
        self._orig_namespace = draft.namespace

    # ------------------------------------------------------------ prompt helpers

    def _header(self, step: int) -> None:
        self.out.print()
        tabs = Text()
        for index, title in enumerate(self.steps):
            if index:
                tabs.append("  >  ", style="dim")
            tabs.append(title, style="bold reverse" if index == step else "dim")
        self.out.print(Rule(f"Step {step + 1} of {len(self.steps)}: {self.steps[step]}"))
        self.out.print(tabs)

    def _error(self, messages: Sequence[str]) -> None:
        for message in messages:
            self.out.print(Text("  ! ", style="bold red") + Text(message, style="red"))

    def _ask(
        self,
        label: str,
        *,
        default: str | None = None,
        check: Callable[[str], list[str]] = lambda _value: [],
    ) -> str:
        """Ask until the answer passes `check`; the messages are shown under the field."""
        while True:
            answer = Prompt.ask(label, default=default or None, console=self.out, show_default=True)
            value = (answer or "").strip()
            errors = check(value)
            if not errors:
                return value
            self._error(errors)

    def _choices(self, items: Sequence[tuple[str, str]]) -> None:
        for index, (name, text) in enumerate(items, 1):
            self.out.print(f"  {index}) [bold]{name}[/bold]  [dim]{text}[/dim]", highlight=False)

    @staticmethod
    def _pick(value: str, items: Sequence[tuple[str, str]]) -> str:
        """A number from the printed list means that item's name."""
        if value.isdigit() and 1 <= int(value) <= len(items):
            return items[int(value) - 1][0]
        return value

    # ------------------------------------------------------------ steps

    def general(self) -> None:
        self._header(GENERAL)
        d = self.draft
        if self.editing:
            self.out.print(f"Name: [bold]{d.name}[/bold] [dim](read-only)[/dim]")
            self.out.print(f"Resource bundle: [bold]{d.bundle}[/bold] [dim](read-only)[/dim]")
        else:
            d.name = self._ask("Name", default=d.name, check=self.checker.name)
            bundles = [(name, "") for name in self.checker.bundle_names]
            if bundles:
                self.out.print("Resource bundles in this namespace:")
                self._choices(bundles)
            default = d.bundle or (bundles[0][0] if len(bundles) == 1 else None)
            d.bundle = self._pick(
                self._ask(
                    "Resource bundle",
                    default=default,
                    check=lambda v: self.checker.bundle(self._pick(v, bundles)),
                ),
                bundles,
            )
        # Entries restricted to bundles are offered for the one chosen (core.entitlements).
        self.checker.picked_bundle = d.bundle or None
        namespaces = [(ns, "") for ns in self.checker.available_namespaces()]
        if len(namespaces) > 1:
            self.out.print("Namespaces available to you:")
            self._choices(namespaces)
        chosen = self._pick(
            self._ask(
                "Namespace",
                default=d.namespace or self.domain,
                check=lambda v: self.checker.namespace(self._pick(v, namespaces)),
            ),
            namespaces,
        )
        # The domain itself is the default: leave spec.namespace unset unless it was set.
        d.namespace = None if chosen == self.domain and self._orig_namespace is None else chosen
        self._instance_and_volume()

    def _instance_and_volume(self) -> None:
        """Instance type and volume, asked again while the quota refuses them."""
        d = self.draft
        types = [
            (name, f"{spec.displayName or ''} {spec.cpu} CPU, {spec.memory} memory".strip())
            for name, spec in self.checker.instance_types
        ]
        volumes = [
            (name, f"{spec.type}{' ' + spec.maxSize if spec.maxSize else ''}")
            for name, spec in self.checker.allowed_volumes()
        ]
        while True:
            if types:
                self.out.print("Instance types:")
                self._choices(types)
            d.instance_type = self._pick(
                self._ask(
                    "Instance type",
                    default=d.instance_type or self.checker.default_instance_type(),
                    check=lambda v: self.checker.instance_type(self._pick(v, types)),
                ),
                types,
            )
            if volumes:
                self.out.print("Volumes (On Demand PVC and NFS):")
                self._choices(volumes)
            picked = self._ask(
                "Volume (empty for none)" if d.volume is None else "Volume ('none' for none)",
                default=d.volume,
                check=lambda v: self.checker.volume(self._volume_choice(v, volumes)),
            )
            d.volume = self._volume_choice(picked, volumes)
            if d.volume is None:
                self.out.print(
                    Text(
                        "Data loss without a volume: all files saved inside the container are "
                        "lost when the container stops, restarts, or is redeployed.",
                        style="yellow",
                    )
                )
            report = self.checker.quota(
                d.instance_type,
                d.volume,
                d.namespace or self.domain,
                existing_pvc=self.existing_pvc(d),
                volume_size=d.volume_size,
            )
            if not report.message:
                return
            # The console marks both fields with the quota error; choose them again.
            self._error([report.message])

    def _volume_choice(self, value: str, volumes: Sequence[tuple[str, str]]) -> str | None:
        if value.lower() in ("", "none"):
            return None
        return self._pick(value, volumes)

    def _validate_env(self, var: dict[str, Any]) -> list[str]:
        try:
            EnvVar.model_validate(var)
        except ValidationError as exc:
            return validation_messages(exc)
        return []

    def configurations(self) -> None:
        self._header(CONFIGURATIONS)
        d = self.draft
        self.out.print(
            "[dim]The platform injects JUPYTER_ENABLE_LAB=true and RESTARTABLE=yes and sets "
            f"{', '.join(rules.PLATFORM_ARGS)}.[/dim]"
        )
        while True:
            self._show_env()
            entry = self._ask(
                "Environment variable name (empty to continue, 'remove NAME' to delete)"
            )
            if not entry:
                break
            if entry.startswith("remove "):
                target = entry.removeprefix("remove ").strip()
                if not any(v["name"] == target for v in d.env):
                    self._error([f"There is no variable {target!r}."])
                d.env = [v for v in d.env if v["name"] != target]
                continue
            kind = Prompt.ask(
                f"Value of {entry} from",
                choices=["plain", "secret"],
                default="plain",
                console=self.out,
            )
            if kind == "plain":
                var: dict[str, Any] = {
                    "name": entry,
                    "value": Prompt.ask("Value", console=self.out),
                }
            else:
                secret = self._ask("Secret name (in the deployment namespace)")
                key = self._ask("Key in the Secret")
                var = {"name": entry, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            errors = self._validate_env(var)
            if errors:
                self._error(errors)
                continue
            d.env = [v for v in d.env if v["name"] != entry] + [var]
        while True:
            self._show_list("Arguments", d.args)
            entry = self._ask("Argument (empty to continue, 'remove N' to delete the N-th)")
            if not entry:
                break
            if entry.startswith("remove "):
                index = entry.removeprefix("remove ").strip()
                if index.isdigit() and 1 <= int(index) <= len(d.args):
                    d.args.pop(int(index) - 1)
                else:
                    self._error([f"There is no argument number {index!r}."])
                continue
            owned = rules.platform_arg_of(entry)
            if owned is not None:
                self._error([rules.msg_platform_arg(entry, owned)])
                continue
            problem = jupyterlab_policy.arg_problem(entry)
            if problem is not None:
                self._error([problem])
                continue
            d.args.append(entry)

    def tags(self) -> None:
        self._header(TAGS)
        d = self.draft
        while True:
            self._show_list("Tags", [f"{k}={v}" for k, v in sorted(d.tags.items())])
            entry = self._ask("Tag KEY=VALUE (empty to continue, 'remove KEY' to delete)")
            if not entry:
                return
            if entry.startswith("remove "):
                key = entry.removeprefix("remove ").strip()
                if d.tags.pop(key, None) is None:
                    self._error([f"There is no tag {key!r}."])
                continue
            try:
                key, value = split_pair(entry, "Tag", "KEY=VALUE")
                JupyterContainerSpec.model_validate({"bundle": "x", "tags": {key: value}})
            except ValidationError as exc:
                self._error(validation_messages(exc))
                continue
            except UsageError as exc:
                self._error([exc.message])
                continue
            d.tags[key] = value

    def _show_env(self) -> None:
        lines = []
        for var in self.draft.env:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            shown = f"secret {ref['name']}:{ref['key']}" if ref else var.get("value", "")
            lines.append(f"{var['name']}={shown}" if not ref else f"{var['name']} <- {shown}")
        self._show_list("Environment variables", lines)

    def _show_list(self, title: str, items: Sequence[str]) -> None:
        if not items:
            self.out.print(f"{title}: [dim]none[/dim]")
            return
        self.out.print(f"{title}:")
        for index, item in enumerate(items, 1):
            self.out.print(f"  {index}) {item}", highlight=False, markup=False)

    # ------------------------------------------------------------ review

    def summary(self) -> Table:
        d = self.draft
        spec = self.checker.instance_spec(d.instance_type or "")
        volume = self.checker.volume_spec(d.volume)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        instance = d.instance_type or "-"
        if spec is not None:
            instance += f" ({spec.cpu} CPU, {spec.memory} memory)"
        volume_text = "No volume"
        if d.volume:
            volume_text = d.volume + (
                f" ({volume.type}{' ' + volume.maxSize if volume.maxSize else ''})"
                if volume
                else ""
            )
        rows: list[tuple[str, str]] = [
            ("Name", d.name or ""),
            ("Resource bundle", d.bundle or ""),
            ("Namespace", d.namespace or self.domain),
            ("Instance type", instance),
            ("Volume", volume_text),
            ("Image", d.image or "catalog default"),
        ]
        if d.env:
            rows.append(("Environment", "\n".join(self._env_lines())))
        if d.args:
            rows.append(("Arguments", " ".join(d.args)))
        if d.tags:
            rows.append(("Tags", "\n".join(f"{k}={v}" for k, v in sorted(d.tags.items()))))
        if not self.editing:
            rows.append(("Start after creation", "yes" if d.running else "no"))
        for label, value in rows:
            grid.add_row(f"{label}:", Text(value))
        return grid

    def _env_lines(self) -> list[str]:
        lines = []
        for var in self.draft.env:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            lines.append(
                f"{var['name']} from Secret {ref['name']}, key {ref['key']}"
                if ref
                else f"{var['name']}={var.get('value', '')}"
            )
        return lines

    def review(self) -> str:
        """Show the summary and the resource cost; 'submit', or a step number to go back to."""
        self._header(REVIEW)
        d = self.draft
        self.out.print(self.summary())
        namespace = d.namespace or self.domain
        report = self.checker.quota(
            d.instance_type or "",
            d.volume,
            namespace,
            existing_pvc=self.existing_pvc(d),
            volume_size=d.volume_size,
        )
        self.out.print()
        self.out.print(Text(f"Resource Summary (quota of namespace '{namespace}')", style="bold"))
        if not report.readable:
            self.out.print("[dim]You may not read the ResourceQuotas of this namespace.[/dim]")
        elif not report.lines:
            self.out.print("[dim]No ResourceQuota limits this container here.[/dim]")
        else:
            self.out.print(render.quota_table(report.lines))
        problems = [report.message] if report.message else []
        try:
            to_dict(JupyterContainerSpec.model_validate(d.spec()))
        except ValidationError as exc:
            problems += validation_messages(exc)
        if not problems:
            problems = self.server_check(d)
        verb = "save" if self.editing else "create"
        if problems:
            self.out.print(Text("The server would refuse this:", style="bold red"))
            self._error(problems)
            choice = Prompt.ask(
                "What now?", choices=["back", "cancel"], default="back", console=self.out
            )
        else:
            choice = Prompt.ask(
                f"{verb.capitalize()} this container?",
                choices=[verb, "back", "cancel"],
                default=verb,
                console=self.out,
            )
        if choice == verb:
            return "submit"
        if choice == "cancel":
            return "cancel"
        step = Prompt.ask(
            "Go back to",
            choices=["general", "configurations", "tags"],
            default="general",
            console=self.out,
        )
        return step

    def run(self) -> Draft:
        step = GENERAL
        steps = {"general": GENERAL, "configurations": CONFIGURATIONS, "tags": TAGS}
        while True:
            if step == GENERAL:
                self.general()
            elif step == CONFIGURATIONS:
                self.configurations()
            elif step == TAGS:
                self.tags()
            else:
                outcome = self.review()
                if outcome == "submit":
                    return self.draft
                if outcome == "cancel":
                    raise DeclinedError("Cancelled; nothing was changed.")
                step = steps[outcome]
                continue
            step += 1
