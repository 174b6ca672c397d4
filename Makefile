# The README's quick start uses "make demo" and "make test".

.PHONY: build test demo bench bench-service bench-provision clean

build:
	go build -o bin/vmgenie ./cmd/vmgenie

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench-seed.sh

bench-service:
	scripts/bench-service.sh

bench-provision:
	scripts/bench-provision.sh

clean:
	rm -f bin/vmgenie bin/vmgenie.exe
