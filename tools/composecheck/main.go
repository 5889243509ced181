// composecheck loads Compose files with compose-go, the loader Docker Compose
// itself uses, as strictly as `docker compose config` does: the Compose
// JSON schema (unknown keys and wrong types fail; only x-* extensions are
// free), interpolation, normalisation and the consistency check (a service
// that depends on an undefined one, a volume that is not declared). It also
// checks that every build context and Dockerfile a service names exists, which
// compose-go leaves to the engine.
//
// Usage: composecheck FILE...   exit 0 when every file loads, 1 otherwise.
// Interpolation sees only an empty environment, so a file is checked as a
// fresh machine without a .env would load it.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck FILE...")
		os.Exit(2)
	}
	failed := false
	for _, file := range os.Args[1:] {
		project, err := load(file)
		if err == nil {
			err = checkBuilds(project)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "composecheck: %s: %v\n", file, err)
			failed = true
			continue
		}
		fmt.Printf("composecheck: %s: ok (project %s; services %s)\n", file, project.Name, strings.Join(serviceNames(project), ", "))
	}
	if failed {
		os.Exit(1)
	}
}

func load(file string) (*types.Project, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	options, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		// Spelled out so that no default can make the load lenient.
		cli.WithLoadOptions(func(o *loader.Options) {
			o.SkipValidation = false
			o.SkipConsistencyCheck = false
		}),
	)
	if err != nil {
		return nil, err
	}
	return options.LoadProject(context.Background())
}

// checkBuilds fails on a build context or Dockerfile that does not exist:
// `docker compose build` would fail there, long after this check.
func checkBuilds(project *types.Project) error {
	for _, name := range serviceNames(project) {
		build := project.Services[name].Build
		if build == nil || strings.Contains(build.Context, "://") {
			continue
		}
		if info, err := os.Stat(build.Context); err != nil || !info.IsDir() {
			return fmt.Errorf("service %q: build context %s is not a directory", name, build.Context)
		}
		dockerfile := build.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(build.Context, dockerfile)
		}
		if _, err := os.Stat(dockerfile); err != nil {
			return fmt.Errorf("service %q: Dockerfile %s does not exist", name, dockerfile)
		}
	}
	return nil
}

func serviceNames(project *types.Project) []string {
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
