// podsecurity checks every pod template in Kubernetes manifests against the Pod
// Security Standard "restricted" (latest), with Kubernetes' own admission checks
// (k8s.io/pod-security-admission), the ones a namespace labelled
// pod-security.kubernetes.io/enforce=restricted applies.
//
// Reads YAML documents on stdin (the output of `kustomize build`) and prints one line
// per failed check, "Kind/name: check: reason: detail", and the pods it found on stderr.
// Exits 1 when any check fails.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

type manifest struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Template    *corev1.PodTemplateSpec `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template *corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

func main() {
	input, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fail(err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		fail(err)
	}
	level := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	pods, violations := 0, 0
	for _, document := range bytes.Split(input, []byte("\n---")) {
		if len(bytes.TrimSpace(document)) == 0 {
			continue
		}
		var m manifest
		if err := yaml.Unmarshal(document, &m); err != nil {
			fail(err)
		}
		template := m.Spec.Template
		if m.Spec.JobTemplate != nil {
			template = m.Spec.JobTemplate.Spec.Template
		}
		if template == nil {
			continue
		}
		pods++
		for _, result := range evaluator.EvaluatePod(level, &template.ObjectMeta, &template.Spec) {
			if !result.Allowed {
				violations++
				fmt.Printf("%s/%s: %s: %s\n", m.Kind, m.Metadata.Name, result.ForbiddenReason,
					strings.ReplaceAll(result.ForbiddenDetail, "\n", " "))
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%d pod templates checked against restricted (%s)\n", pods, level.Version.String())
	if violations > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
