package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Install charts and run the cluster they are installed into",
		Long: `berth is a package and release manager with Helm's charts and habits, and the
Kubernetes-compatible orchestrator that runs what it installs, in one binary.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newVersionCommand(), newCreateCommand(), newLintCommand(), newTemplateCommand(), newPackageCommand(), newShowCommand(), newDependencyCommand(), newRepoCommand(), newSearchCommand())
	root.AddCommand(newImageCommand(), newKillAllCommand())
	root.AddCommand(newRegistryCommand(), newPushCommand(), newPullCommand())
	root.AddCommand(newVerifyCommand())
	cluster := &clusterFlags{}
	cluster.addFlags(root.PersistentFlags())
	root.AddCommand(releaseCommands(cluster)...)
	root.AddCommand(newAgentCommand(cluster), newSyncCommand(cluster), newReconcileCommand(cluster))
	root.AddCommand(newSecretsEncryptCommand(cluster), newTokenCommand(cluster))
	return root
}
