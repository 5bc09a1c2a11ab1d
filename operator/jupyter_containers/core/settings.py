"""Operator settings, read once at start-up from `JC_*` environment variables.

Grouped into sections, as kopf groups its own settings (`settings.watching`, ...): each
pure function takes the section it needs (`core.lifecycle` a `LifecycleSettings`, ...).
`Settings` is every section at once, loaded once by `shell.startup`. The environment
variable of a field is `JC_` + its upper-case name whatever its section, so the Helm
chart (which renders its values into these variables) sees one flat list of knobs.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from jupyter_containers.api.culling_policy import parse_duration
from jupyter_containers.core.lease import LeaseTimings

_FROM_ENV = SettingsConfigDict(env_prefix="JC_", extra="ignore")

#: Placeholders `base_url_template` may use.
BASE_URL_FIELDS: frozenset[str] = frozenset({"domain", "name", "namespace"})


class JupyterLabSettings(BaseSettings):
    """What the pods of containers get: the image, JupyterLab's URL and origin, storage."""

    model_config = _FROM_ENV

    jupyter_image: str = Field(
        default="quay.io/jupyter/base-notebook:latest",
        min_length=1,
        description="Image used when a container sets no spec.image (a Jupyter Docker Stacks "
        "image: the pod runs its start-notebook.py).",
    )
    base_url_template: str = Field(
        default="/jupyter/{domain}/{name}/",
        description="JupyterLab base URL (--ServerApp.base_url); placeholders {domain}, {name}, "
        "{namespace} (the deployment namespace). Starts and ends with '/'.",
    )
    allow_origin: str = Field(
        default="",
        description="--ServerApp.allow_origin; empty allows same-origin requests only.",
    )
    default_storage_class: str | None = Field(
        default=None,
        description="StorageClass of On Demand PVCs whose Volume names none; None: the "
        "cluster's default StorageClass.",
    )
    network_policy: bool = Field(
        default=True,
        description="Give every deployment namespace one NetworkPolicy selecting all its "
        "JupyterLab pods: ingress to JupyterLab's port only from the pods "
        "network_policy_ingress_* select (the console's proxy), egress anywhere but "
        "network_policy_denied_egress (the cloud metadata address). kubectl port-forward goes "
        "through the kubelet and is not affected. false: no NetworkPolicy (the operator's "
        "existing ones are deleted).",
    )
    network_policy_ingress_namespace: str | None = Field(
        default=None,
        description="Namespace of the pods that may reach JupyterLab (the console's); None "
        "with no pod labels either: nothing may (port-forward still works).",
    )
    network_policy_ingress_pod_labels: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Labels of the pods that may reach JupyterLab, 'key=value,key=value' "
        "(the console's selector labels); empty: every pod of the ingress namespace.",
    )
    network_policy_operator_namespace: str | None = Field(
        default=None,
        description="Namespace of the operator's pods, also let in to JupyterLab's port: "
        "the activity probe of culling (docs/culling.md). None: not let in (an operator "
        "outside the cluster, or no culling).",
    )
    network_policy_operator_pod_labels: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Labels of the operator's pods, 'key=value,key=value' (with "
        "network_policy_operator_namespace).",
    )
    network_policy_denied_egress: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["169.254.169.254/32"],
        description="CIDRs JupyterLab may not reach, comma-separated (the cloud metadata "
        "service, whose credentials are the node's).",
    )

    @field_validator(
        "network_policy_ingress_pod_labels", "network_policy_operator_pod_labels", mode="before"
    )
    @classmethod
    def _split_labels(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        labels: dict[str, str] = {}
        for pair in (p.strip() for p in value.split(",")):
            if not pair:
                continue
            key, eq, val = pair.partition("=")
            if not eq or not key.strip():
                raise ValueError(
                    f"JC_{str(info.field_name).upper()}: {pair!r} is not key=value, e.g. "
                    "'app.kubernetes.io/component=console'"
                )
            labels[key.strip()] = val.strip()
        return labels

    @field_validator("network_policy_denied_egress", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return [c.strip() for c in value.split(",") if c.strip()]
        return value

    @field_validator("network_policy_denied_egress")
    @classmethod
    def _check_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise ValueError(
                    f"JC_NETWORK_POLICY_DENIED_EGRESS: {cidr!r} is not a CIDR ({exc}), "
                    "e.g. 169.254.169.254/32"
                ) from None
        return value

    @field_validator("base_url_template")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not (value.startswith("/") and value.endswith("/")):
            raise ValueError(
                f"JC_BASE_URL_TEMPLATE {value!r} must start and end with '/', "
                "e.g. '/jupyter/{domain}/{name}/'"
            )
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = fields - BASE_URL_FIELDS
        if unknown:
            raise ValueError(
                f"JC_BASE_URL_TEMPLATE uses unknown placeholder(s) {sorted(unknown)}; "
                f"allowed: {sorted(BASE_URL_FIELDS)}"
            )
        return value

    def base_url(self, domain: str, name: str, namespace: str) -> str:
        """The JupyterLab base URL of one container."""
        return self.base_url_template.format(domain=domain, name=name, namespace=namespace)


class LifecycleSettings(BaseSettings):
    """When a start attempt has failed: the deadline and the graces (`core.lifecycle`)."""

    model_config = _FROM_ENV

    start_deadline_seconds: float = Field(
        default=600,
        gt=0,
        description="A start attempt whose pod is not ready this long after the start is Failed "
        "(StartDeadlineExceeded).",
    )
    unschedulable_grace_seconds: float = Field(
        default=60,
        ge=0,
        description="How long the scheduler may report the pod Unschedulable before the container "
        "is Failed (a cluster autoscaler may add a node meanwhile).",
    )
    pvc_bind_grace_seconds: float = Field(
        default=120,
        ge=0,
        description="How long an On Demand PVC may stay unbound before the container is Failed "
        "(VolumeFailed).",
    )
    image_pull_grace_seconds: float = Field(
        default=0,
        ge=0,
        description="How long image pulls may fail (ErrImagePull/ImagePullBackOff) before the "
        "container is Failed. 0: fail at the first failed pull, so a typo in the image is "
        "reported at once. Raise it only for registries with transient errors. (A count of "
        "failed pulls is not used: the pod status shows only the latest pull error.)",
    )
    crash_restart_threshold: int = Field(
        default=1,
        ge=1,
        description="Number of error exits (non-zero exit code or OOMKilled) of the JupyterLab "
        "container after which it is Failed. 1: the first crash fails it. A clean exit (code 0) "
        "never counts.",
    )


class PrePullSettings(BaseSettings):
    """Image pre-pull (JupyterImage spec.prePull): where its DaemonSets live, what they run."""

    model_config = _FROM_ENV

    prepull_namespace: str | None = Field(
        default=None,
        min_length=1,
        description="Namespace of the pre-pull DaemonSets (the chart: its release namespace, "
        "where its Role lets the operator manage DaemonSets). None: pre-pull is off and "
        "JupyterImages with spec.prePull say so in their status.",
    )
    prepull_pause_image: str = Field(
        default="registry.k8s.io/pause:3.10",
        min_length=1,
        description="The long-running container of each pre-pull pod (it only sleeps): while "
        "it runs, the kubelet counts the pre-pulled image as in use and never removes it.",
    )


class CullingSettings(BaseSettings):
    """Idle culling and maximum lifetime: cluster defaults and the activity probe (`shell.culling`).

    Off unless configured: an InstanceType's `spec.culling` wins over the defaults here.
    """

    model_config = _FROM_ENV

    cull_idle_timeout: str = Field(
        default="0s",
        description="Default idle timeout of containers whose InstanceType sets none ('30m', "
        "'8h'; '0s': no idle culling).",
    )
    cull_max_lifetime: str = Field(
        default="0s",
        description="Default maximum lifetime of containers whose InstanceType sets none "
        "('12h'; '0s': none).",
    )
    cull_probe_interval_seconds: float = Field(
        default=60,
        gt=0,
        description="Seconds between two activity probes of one container (jittered by 10%).",
    )
    cull_probe_concurrency: int = Field(
        default=10, ge=1, description="Activity probes in flight at once, over all containers."
    )
    cull_probe_timeout_seconds: float = Field(
        default=5, gt=0, description="Seconds one probe (its three requests) may take."
    )

    cull_probe_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs of pod IPs the probe may connect to, comma-separated (the cluster's "
        "pod network); a pod IP outside them is not probed (so not culled as idle). Empty: any.",
    )

    @field_validator("cull_probe_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [c.strip() for c in value.split(",") if c.strip()]
        return value

    @field_validator("cull_probe_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"JC_CULL_PROBE_NETWORKS: {cidr!r} is not a CIDR ({exc}), e.g. 10.244.0.0/16"
                ) from None
        return value

    @field_validator("cull_idle_timeout", "cull_max_lifetime")
    @classmethod
    def _duration(cls, value: str, info: object) -> str:
        parse_duration(value, f"JC_{str(getattr(info, 'field_name', '')).upper()}")
        return value


class AccessSettings(BaseSettings):
    """Who may deploy where, who administers (`core.validation`) and whether a start re-checks
    the Secrets a container refers to (`core.plan`)."""

    model_config = _FROM_ENV

    domain_namespace_label: str = Field(
        default="jupytercontainers.io/deployable",
        min_length=1,
        description="Namespace label that opens a namespace to containers of other domains. "
        "Value 'true': open to every domain; otherwise a comma-separated list of the domain "
        "namespaces allowed to deploy there. A domain may always deploy into its own namespace.",
    )
    admin_groups: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Groups whose members may update, start, stop and delete every container, "
        "comma-separated; system:masters always may.",
    )
    start_secret_access_review: bool = Field(
        default=True,
        description="At every start, ask a SubjectAccessReview whether the container's creator "
        "(created-by) may still get each Secret its env refers to, and fail the start if not "
        "(rights can be revoked after admission). The review names the user and the groups "
        "recorded at creation (annotation jupytercontainers.io/created-by-groups): a change of "
        "group membership since then is not seen. false: the admission check alone.",
    )

    @field_validator("admin_groups", mode="before")
    @classmethod
    def _split_groups(cls, value: object) -> object:
        if isinstance(value, str):
            return [group.strip() for group in value.split(",") if group.strip()]
        return value

    def namespace_open_to(
        self, namespace: str, namespace_labels: Mapping[str, str], domain: str
    ) -> bool:
        """Whether `domain` may deploy into `namespace` (see domain_namespace_label)."""
        if namespace == domain:
            return True
        value = (namespace_labels.get(self.domain_namespace_label) or "").strip()
        if value == "true":
            return True
        return domain in {d.strip() for d in value.split(",") if d.strip()}


class WebhookSettings(BaseSettings):
    """The admission webhook server (`shell.admission`)."""

    model_config = _FROM_ENV

    webhook_host: str | None = Field(
        default=None,
        description="Host name the API server uses to reach the admission webhook (the webhook "
        "Service's DNS name in a cluster); None lets kopf pick.",
    )
    webhook_port: int = Field(default=9443, ge=1, le=65535, description="Webhook HTTPS port.")
    webhook_cert_dir: str | None = Field(
        default=None,
        description="Directory with the webhook's tls.crt and tls.key (and ca.crt, the CA that "
        "signed them), e.g. a mounted cert-manager Secret. When they are missing the operator "
        "generates a self-signed CA and a serving certificate there (a temporary directory "
        "when unset; local development only).",
    )
    webhook_managed: bool = Field(
        default=True,
        description="Let the operator create and keep up to date the Validating/Mutating"
        "WebhookConfigurations 'jupytercontainers.io' (URL and caBundle of its own webhook "
        "server; local development). false: they are installed separately, e.g. by the Helm "
        "chart pointing at the webhook Service.",
    )
    webhook_client_ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA that signs the API server's admission client "
        "certificate (kube-apiserver --admission-control-config-file, a kubeconfig per "
        "webhook). Set: the webhook server requires a client certificate it signed and refuses "
        "the TLS handshake of any other client. None: any client may connect (the requests "
        "are still only AdmissionReviews).",
    )
    webhook_listen_address: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the webhook server listens on: 127.0.0.1 for a local API server, "
        "0.0.0.0 in a pod behind the webhook Service.",
    )


class HealthSettings(BaseSettings):
    """When the liveness probe fails (`shell.health`)."""

    model_config = _FROM_ENV

    watch_stall_seconds: float = Field(
        default=300,
        gt=0,
        description="The liveness probe fails when a watch stream that gets bookmarks has "
        "delivered no event and no bookmark for this long. Keep it well above 70 s (kopf's "
        "reconnect after a silent stream) plus the API server's bookmark interval (about 60 s).",
    )


class LeaderElectionSettings(BaseSettings):
    """Which replica reconciles: the holder of a Lease (`core.lease`, `shell.leader`)."""

    model_config = _FROM_ENV

    leader_election_lease: str | None = Field(
        default=None,
        description="Name of the Lease (coordination.k8s.io/v1) whose holder reconciles; every "
        "replica serves admission. None: no election, this process always reconciles (one "
        "process only: local development).",
    )
    leader_election_namespace: str = Field(
        default="default",
        min_length=1,
        description="Namespace of the Lease (the chart's release namespace).",
    )
    leader_election_identity: str | None = Field(
        default=None,
        description="This replica's holderIdentity (the chart: its pod name). Two live "
        "processes must never share one. None: the host name and a random suffix.",
    )
    leader_election_lease_seconds: float = Field(
        default=10,
        gt=0,
        description="leaseDurationSeconds: a Lease not renewed for this long may be taken by "
        "another replica (so a killed leader is replaced after about this long).",
    )
    leader_election_renew_deadline_seconds: float = Field(
        default=7,
        gt=0,
        description="A leader that could not renew its Lease for this long stops reconciling "
        "at once (below the lease duration: it stops before another may take over).",
    )
    leader_election_retry_seconds: float = Field(
        default=1.5,
        gt=0,
        description="How often the leader renews and a standby reads the Lease.",
    )

    @model_validator(mode="after")
    def _check_timings(self) -> LeaderElectionSettings:
        problems = self.lease_timings().problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def lease_timings(self) -> LeaseTimings:
        return LeaseTimings(
            self.leader_election_lease_seconds,
            self.leader_election_renew_deadline_seconds,
            self.leader_election_retry_seconds,
        )


class ProcessSettings(BaseSettings):
    """The operator process: what it watches, how it writes, its ports and logs."""

    model_config = _FROM_ENV

    field_manager: str = Field(
        default="jupyter-containers",
        min_length=1,
        description="Server-side apply field manager of every object the operator writes.",
    )
    watch_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces whose JupyterContainers and deployed objects the operator "
        "watches, comma-separated; empty: every namespace.",
    )
    metrics_port: int = Field(
        default=8080, ge=0, le=65535, description="Prometheus metrics port; 0 disables it."
    )
    health_port: int = Field(
        default=8081, ge=0, le=65535, description="Liveness endpoint port; 0 disables it."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="'text' for people, 'json' for log collectors."
    )

    @field_validator("watch_namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [ns.strip() for ns in value.split(",") if ns.strip()]
        return value


class Settings(
    JupyterLabSettings,
    LifecycleSettings,
    PrePullSettings,
    CullingSettings,
    AccessSettings,
    WebhookSettings,
    HealthSettings,
    LeaderElectionSettings,
    ProcessSettings,
):
    """Every operator setting (all sections); the environment variable is `JC_` + the
    upper-case field name."""

    model_config = _FROM_ENV


def load_settings() -> Settings:
    """Settings from the environment; raises pydantic's ValidationError naming the bad variable."""
    return Settings()
