// manifestcheck decodes every document of rendered Kubernetes manifests
// STRICTLY into its real Go API type: an unknown field, a wrong type or a
// duplicate key fails, as does a kind it has no type for (so nothing is
// skipped silently). It also checks that no secret-looking env var carries a
// literal value, and (-alerts) that a rendered PrometheusRule's groups equal
// ops/prometheus-alerts.yml's.
//
// Usage: manifestcheck [-alerts ops/prometheus-alerts.yml] file.yaml...
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// newObject returns an empty typed object for apiVersion/kind, or nil.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "batch/v1/Job":
		return &batchv1.Job{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	case "keda.sh/v1alpha1/ScaledObject":
		return &kedav1alpha1.ScaledObject{}
	case "keda.sh/v1alpha1/TriggerAuthentication":
		return &kedav1alpha1.TriggerAuthentication{}
	}
	return nil
}

var secretName = regexp.MustCompile(`(?i)URL|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|(^|_)KEY($|_)`)

// splitDocuments splits a YAML stream on `---` lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(stripComments(cur.Bytes()))) > 0 {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(b), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			out.WriteString(line + "\n")
		}
	}
	return out.Bytes()
}

// CheckDocument decodes one document strictly and returns the typed object.
func CheckDocument(doc []byte) (any, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	obj := newObject(head.APIVersion, head.Kind)
	if obj == nil {
		return nil, fmt.Errorf("no API type known for apiVersion %q kind %q", head.APIVersion, head.Kind)
	}
	if err := decodeStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	if err := checkEnv(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	return obj, nil
}

// decodeStrict: YAML -> JSON (duplicate keys fail), then the API machinery's
// strict JSON decoding (sigs.k8s.io/json), which names each unknown field by
// its full path; a wrong type fails the decode itself.
func decodeStrict(doc []byte, obj any) error {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// checkEnv: a credential comes from a Secret, never a literal env value.
func checkEnv(obj any) error {
	var spec *corev1.PodSpec
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec = &o.Spec.Template.Spec
	case *batchv1.Job:
		spec = &o.Spec.Template.Spec
	default:
		return nil
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if secretName.MatchString(e.Name) && e.Value != "" {
				return fmt.Errorf("container %s: env %s has a literal value; a credential must come from a Secret (valueFrom.secretKeyRef)", c.Name, e.Name)
			}
		}
	}
	return nil
}

// checkAlerts: the PrometheusRule's groups equal the ops file's, field by field.
func checkAlerts(rule *monitoringv1.PrometheusRule, alertsFile string) error {
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		return err
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := decodeStrict(data, &want); err != nil {
		return fmt.Errorf("%s: %w", alertsFile, err)
	}
	if !reflect.DeepEqual(want.Groups, rule.Spec.Groups) {
		got, _ := yaml.Marshal(rule.Spec.Groups)
		exp, _ := yaml.Marshal(want.Groups)
		return fmt.Errorf("PrometheusRule %s: its groups differ from %s (copy the file into the chart's files/)\n--- rendered\n%s\n--- %s\n%s", rule.Name, alertsFile, got, alertsFile, exp)
	}
	return nil
}

func main() {
	alerts := flag.String("alerts", "", "ops/prometheus-alerts.yml: a rendered PrometheusRule must carry exactly its groups")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: manifestcheck [-alerts FILE] manifest.yaml...")
		os.Exit(2)
	}
	failed := false
	for _, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		docs := splitDocuments(data)
		if len(docs) == 0 {
			fmt.Fprintf(os.Stderr, "%s: no manifest in it\n", path)
			failed = true
		}
		kinds := []string{}
		fileFailed := false
		for i, doc := range docs {
			obj, err := CheckDocument(doc)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", path, i+1, err)
				failed, fileFailed = true, true
				continue
			}
			if rule, ok := obj.(*monitoringv1.PrometheusRule); ok && *alerts != "" {
				if err := checkAlerts(rule, *alerts); err != nil {
					fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", path, i+1, err)
					failed, fileFailed = true, true
				}
			}
			kinds = append(kinds, reflect.TypeOf(obj).Elem().Name())
		}
		if fileFailed {
			continue
		}
		fmt.Printf("%s: %d documents decoded strictly: %s\n", path, len(docs), strings.Join(kinds, ", "))
	}
	if failed {
		os.Exit(1)
	}
}
