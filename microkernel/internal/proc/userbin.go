package proc

import _ "embed"

//go:generate sh -c "GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -ldflags='-s -w -T 0x100001000 -R 0x1000' -o userbin/hello.elf armos/apps/hello"

// HelloELF is apps/hello built for linux/arm64, linked at 4 GiB (above the
// kernel's boot map): the first user program, run with the boot argument
// `userhello`. It is prebuilt (go generate, above) so the kernel stays a
// plain `go build`; TestHelloUpToDate fails when it is stale.
//
//go:embed userbin/hello.elf
var HelloELF []byte
