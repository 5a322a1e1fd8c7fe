// Package granted is the armos side of package virtio, shared by the
// virtio driver servers (servers/virtionetd, servers/virtioconsd): their
// start (stop signals, a standby's wait for its turn), the device init
// passed (or one granted on the kernel command line), its
// registers as a virtio.Regs (mapped into the process when the device is
// alone on its page, else reached through the kernel), DMA memory as
// virtio.Mem (shared memory with its pages' physical addresses), the
// loop that services the device at each interrupt, and the operators'
// report service (adminproto.OpReport on NAME.admin). See docs/devices.md.
package granted

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"

	"armos/abi"
	"armos/libdev"
	"armos/libipc"
	"armos/libsocket/adminproto"
	"armos/libsys"
	"armos/servers/virtionetd/virtio"
)

// Started is a driver server under way: the context its stop signal
// ends, which incarnation of its service it is, its device and the
// device's registers.
type Started struct {
	Ctx     context.Context
	Restart int // 0: the first start; n: the nth restart
	Dev     *libdev.Device
	Regs    virtio.Regs
	How     string // "mapped" or "mediated" (Registers)
	trace   *libsys.Start
}

// Ready prints the driver's ready line (line, a newline added) and, for
// a restart, its restart timeline as prog.
func (s *Started) Ready(prog, line string) {
	fmt.Println(line)
	if s.Restart > 0 {
		fmt.Print(s.trace.Line(prog, strconv.Itoa(s.Restart)))
	}
}

// Start begins a driver server: a context that SIGTERM (or an interrupt)
// ends; for a standby incarnation, the wait until init hands it the
// service (libipc.AwaitTurn, trace noting the take-over), before the
// device is touched (the running incarnation holds it); then the device
// (Open) and its registers (Registers). It returns nil and no error when
// stopped while waiting as a standby: the process ends quietly. Call
// stop, always non-nil, when done with the signals.
func Start(trace *libsys.Start, grant int, kind string) (s *Started, stop func(), err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	restart, standby, err := libipc.AwaitTurn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, stop, nil
		}
		return nil, stop, err
	}
	if standby {
		trace.TookOver()
	}
	dev, err := Open(grant, kind)
	if err != nil {
		return nil, stop, err
	}
	regs, how := Registers(dev)
	return &Started{Ctx: ctx, Restart: restart, Dev: dev, Regs: regs, How: how, trace: trace}, stop, nil
}

// Open returns the one device init passed (ARMOS_DEVICES), or, outside
// init, grant number grant (a device granted on the kernel command line).
// kind names the device in the error when init passed another number.
func Open(grant int, kind string) (*libdev.Device, error) {
	if os.Getenv(libdev.EnvDevices) == "" {
		return libdev.Grant(grant)
	}
	devs, err := libdev.FromEnv()
	if err != nil {
		return nil, err
	}
	if len(devs) != 1 {
		return nil, fmt.Errorf("%d devices passed, want one %s device", len(devs), kind)
	}
	return devs[0], nil
}

// Registers returns how the driver reaches the device's registers, and
// which way it is ("mapped" or "mediated"): mapped when the kernel maps
// the page (no other device on it), else through the kernel
// (docs/devices.md).
func Registers(dev *libdev.Device) (virtio.Regs, string) {
	if base, err := dev.Map(); err == nil {
		return mappedRegs{base: base}, "mapped"
	}
	return mediatedRegs{dev: dev}, "mediated"
}

// mappedRegs reaches registers mapped into this process (armos_dev_map):
// each access is one load or store; the atomic forms keep the compiler
// from merging or dropping them.
type mappedRegs struct{ base uintptr }

func (r mappedRegs) reg(off uint32) *uint32 {
	a := r.base + uintptr(off)
	return *(**uint32)(unsafe.Pointer(&a)) // device memory, not Go memory
}

func (r mappedRegs) Read32(off uint32) uint32     { return atomic.LoadUint32(r.reg(off)) }
func (r mappedRegs) Write32(off uint32, v uint32) { atomic.StoreUint32(r.reg(off), v) }

// mediatedRegs asks the kernel for each access (armos_dev_read/write), when
// the device shares its page with another process's device.
type mediatedRegs struct{ dev *libdev.Device }

// regErrors counts register accesses the kernel refused (a driver bug: the
// offsets are the spec's); the first is reported.
var regErrors atomic.Uint64

func regError(off uint32, err error) {
	if regErrors.Add(1) == 1 {
		fmt.Fprintf(os.Stderr, "%s: register %#x: %v\n", filepath.Base(os.Args[0]), off, err)
	}
}

func (r mediatedRegs) Read32(off uint32) uint32 {
	v, err := r.dev.Read32(uintptr(off))
	if err != nil {
		regError(off, err)
		return 0
	}
	return v
}

func (r mediatedRegs) Write32(off uint32, v uint32) {
	if err := r.dev.Write32(uintptr(off), v); err != nil {
		regError(off, err)
	}
}

// shmMem is DMA memory: a shared-memory object mapped here, with the
// physical address of each page (armos_shm_info).
type shmMem struct {
	b     []byte
	pages []uint64
	fd    int // the object's descriptor, kept to share it (ShareCap)
}

// ShareCap returns a cap of the memory's shared-memory object, to send
// to a peer that maps it too: a new descriptor that may map it (and be
// sent), which the send moves; the driver keeps its own.
func (m *shmMem) ShareCap() (libipc.Cap, error) {
	fd, err := libipc.KHandleDup(m.fd, abi.RightMap|abi.RightDup, syscall.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sharing DMA memory: %w", err)
	}
	return libipc.NewKernelHandle(fd), nil
}

func (m *shmMem) Bytes() []byte     { return m.b }
func (m *shmMem) PA(off int) uint64 { return m.pages[off/pageSize] + uint64(off%pageSize) }

const pageSize = 4096

// AllocDMA is a virtio.Alloc: a shared-memory object (physically
// contiguous when asked), mapped, its pages' addresses learnt. The
// descriptor is kept (ShareCap) for the process's life, as the mapping
// is.
func AllocDMA(size int, contiguous bool) (virtio.Mem, error) {
	flags := syscall.O_CLOEXEC
	if contiguous {
		flags |= abi.ShmContiguous
	}
	size = (size + pageSize - 1) / pageSize * pageSize
	fd, err := libipc.KShmCreate(size, flags)
	if err != nil {
		return nil, fmt.Errorf("shared memory of %d bytes: %w", size, err)
	}
	b, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("mapping DMA memory: %w", err)
	}
	pages := make([]uint64, size/pageSize)
	if _, err := libipc.KShmInfo(fd, pages); err != nil {
		syscall.Munmap(b)
		syscall.Close(fd)
		return nil, fmt.Errorf("DMA addresses: %w", err)
	}
	return &shmMem{b: b, pages: pages, fd: fd}, nil
}

// Interrupts waits for the device's interrupts and calls service after
// each (the caller's lock around its driver taken inside), then unmasks
// the line. It returns when the interrupt object fails, saying so on
// stderr as name.
func Interrupts(irq *libdev.IRQ, name string, service func()) {
	for {
		if _, err := irq.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: interrupt: %v\n", name, err)
			return
		}
		service()
		if err := irq.Ack(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: acknowledging the interrupt: %v\n", name, err)
			return
		}
	}
}

// ErrNoInit: the process was not started by init (a smoke test from the
// kernel command line); there is no name service to register with.
var ErrNoInit = errors.New("not started by init")

// Register publishes a driver through init's name service: name, whose
// connections go to accept, and the operators' report service on
// name.admin (ServeReport); and it ends the process (as prog) if the
// channel to init goes before ctx ends, so that init starts it afresh.
// Outside init it fails with ErrNoInit.
func Register(ctx context.Context, prog, name string, accept func(libipc.Endpoint), report func(io.Writer)) error {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNoInit, err)
	}
	go boot.ExitWhenGone(ctx, prog)
	if err := boot.RegisterErr(ctx, name, accept); err != nil {
		return err
	}
	return ServeReport(ctx, boot, name, report)
}

// ServeReport registers name+adminproto.DriverSuffix with init and
// serves adminproto.OpReport on it until ctx ends: report's text, the
// driver's counters (netstat, the shell's report).
func ServeReport(ctx context.Context, boot *libipc.InitClient, name string, report func(io.Writer)) error {
	mux := libipc.NewMux()
	libipc.Handle(mux, adminproto.OpReport, func(*libipc.Request, *adminproto.Empty) (*adminproto.Report, error) {
		var b bytes.Buffer
		report(&b)
		return &adminproto.Report{Text: b.String()}, nil
	})
	srv := libipc.NewServer(mux)
	go func() { _ = srv.Serve(ctx) }()
	return boot.RegisterErr(ctx, name+adminproto.DriverSuffix, srv.Accept)
}
