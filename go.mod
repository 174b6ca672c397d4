module github.com/vmgenie/vmgenie

go 1.26.0

require (
	github.com/Microsoft/go-winio v0.6.4
	github.com/digitalocean/go-qemu v0.0.0-20250212194115-ee9b0668d242
	github.com/rogpeppe/go-internal v1.16.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/digitalocean/go-libvirt v0.0.0-20220804181439-8648fbde413e // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	golang.org/x/tools v0.50.0 // indirect
)
