// The real node's dynamic provisioner: every claim of a StorageClass with provisioner
// "jupytercontainers.io/local-path" that the scheduler puts on this node gets a directory under
// --dir, owned by the StorageClass parameters uid/gid (default 1000:100, JupyterLab's jovyan and
// users) so a non-root JupyterLab can write its home. The kubelet applies no fsGroup to such
// directories, which is why the in-tree hostPath provisioner (root-owned 0750 directories) does
// not do. Reclaim policy Delete removes the directory with the PV. Built on
// sig-storage-lib-external-provisioner (the library the Kubernetes external provisioners share).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"
)

const (
	provisionerName = "jupytercontainers.io/local-path"
	nodeAnnotation  = "jupytercontainers.io/provisioned-on"
	hostnameLabel   = "kubernetes.io/hostname"
)

type localPath struct {
	dir  string
	node string
}

func ownerFrom(params map[string]string) (int, int, error) {
	uid, gid := 1000, 100
	var err error
	if s, ok := params["uid"]; ok {
		if uid, err = strconv.Atoi(s); err != nil {
			return 0, 0, fmt.Errorf("StorageClass parameter uid=%q is not a number", s)
		}
	}
	if s, ok := params["gid"]; ok {
		if gid, err = strconv.Atoi(s); err != nil {
			return 0, 0, fmt.Errorf("StorageClass parameter gid=%q is not a number", s)
		}
	}
	return uid, gid, nil
}

func (p *localPath) Provision(ctx context.Context, o controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	if o.SelectedNode == nil {
		return nil, controller.ProvisioningFinished, errors.New("no node selected: the StorageClass needs volumeBindingMode WaitForFirstConsumer")
	}
	if o.SelectedNode.Name != p.node {
		return nil, controller.ProvisioningReschedule, fmt.Errorf("node %s has no local-path provisioner (only %s)", o.SelectedNode.Name, p.node)
	}
	uid, gid, err := ownerFrom(o.StorageClass.Parameters)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	path := filepath.Join(p.dir, o.PVName)
	// setgid: files JupyterLab creates keep the group, as on an fsGroup volume.
	if err := os.Mkdir(path, 0o2775); err != nil && !os.IsExist(err) {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.Chmod(path, 0o2775|os.ModeSetgid); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	klog.InfoS("provisioned", "pv", o.PVName, "claim", klog.KObj(o.PVC), "path", path, "uid", uid, "gid", gid)
	mode := v1.PersistentVolumeFilesystem
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        o.PVName,
			Annotations: map[string]string{nodeAnnotation: p.node},
		},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: *o.StorageClass.ReclaimPolicy,
			AccessModes:                   o.PVC.Spec.AccessModes,
			VolumeMode:                    &mode,
			MountOptions:                  o.StorageClass.MountOptions,
			Capacity: v1.ResourceList{
				v1.ResourceStorage: o.PVC.Spec.Resources.Requests[v1.ResourceStorage],
			},
			PersistentVolumeSource: v1.PersistentVolumeSource{
				Local: &v1.LocalVolumeSource{Path: path},
			},
			NodeAffinity: &v1.VolumeNodeAffinity{
				Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{
						Key: hostnameLabel, Operator: v1.NodeSelectorOpIn, Values: []string{p.node},
					}},
				}}},
			},
		},
	}, controller.ProvisioningFinished, nil
}

func (p *localPath) Delete(ctx context.Context, pv *v1.PersistentVolume) error {
	if pv.Annotations[nodeAnnotation] != p.node || pv.Spec.Local == nil {
		return &controller.IgnoredError{Reason: "not provisioned by this node's local-path provisioner"}
	}
	path := filepath.Clean(pv.Spec.Local.Path)
	// Only ever a direct child of our directory: a PV edited to point elsewhere deletes nothing.
	if filepath.Dir(path) != filepath.Clean(p.dir) || !strings.HasPrefix(filepath.Base(path), "pvc-") {
		return fmt.Errorf("refusing to delete %s: not a volume directory under %s", path, p.dir)
	}
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	klog.InfoS("deleted", "pv", pv.Name, "path", path)
	return nil
}

func main() {
	klog.InitFlags(nil)
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	node := flag.String("node", "", "name of the node whose volumes this process provisions")
	dir := flag.String("dir", "", "directory that holds the volume directories")
	flag.Parse()
	if *kubeconfig == "" || *node == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: local-path-provisioner --kubeconfig FILE --node NAME --dir DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		klog.Fatalf("cannot create %s: %v", *dir, err)
	}
	syscall.Umask(0)
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Fatalf("client: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	pc := controller.NewProvisionController(ctx, client, provisionerName,
		&localPath{dir: *dir, node: *node},
		// One process per node and nothing else provisions this class: no leader election.
		controller.LeaderElection(false),
		controller.MetricsPort(0),
	)
	klog.InfoS("local-path provisioner running", "node", *node, "dir", *dir)
	pc.Run(ctx)
}
