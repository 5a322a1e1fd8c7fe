set architecture aarch64
set pagination off
set confirm off
set substitute-path armos ROOT
file KERNEL
add-symbol-file HELLO
target remote 127.0.0.1:PORT
hbreak armos/microkernel/internal/rt.syscall
continue
info registers x8
bt 1
delete
hbreak armos/apps/hello/main.go:12
continue
bt 1
list 12,13
kill
quit
