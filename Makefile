# Targets named in README.md; each is a thin alias for a script.
.PHONY: setup demo test selftest vm devices-up devices-down

# Install packages, fetch Debian's kernel, build siw.ko and the initramfs (cached in .cache/).
setup:
	hack/setup.sh

# The README's first command: rping-go server and client on rxe and siw.
demo:
	ci/demo.sh

# The README's test command: native tests, then every package in one guest on rxe and siw.
test:
	ci/test.sh

# Check the test bed itself (vm-run's exit status, timeout, devices, C rping).
selftest: setup
	ci/testbed-selftest.sh

# Run a command in the guest: make vm CMD='ibv_devinfo -v'
vm: setup
	hack/vm-run -- bash -c '$(CMD)'

# Create or remove rxe0/siw0 natively, on a host whose kernel has rdma_rxe and siw.
devices-up:
	hack/rdma-devices.sh up
devices-down:
	hack/rdma-devices.sh down
