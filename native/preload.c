/*
 * libvfio-sim-preload.so: runs an unmodified VFIO program against the vfio-sim model.
 *
 * Loaded with LD_PRELOAD and told the model server's socket by VFIO_SIM_SOCKET (vfio-sim
 * exec sets both). It interposes the libc entry points through which a program reaches
  * /dev/vfio/... and the model's sysfs, forwards those calls to the server (protocol:
 * docs/SERVER-PROTOCOL.md) and passes everything else to the real libc (dlsym RTLD_NEXT):
 *
 *  - opendir/readdir/closedir of a model directory (the /sys/bus/pci/devices listing) and
 *    fopen of a model file (a FILE over its placeholder fd, fopencookie) for stdio readers;
 *  - open/open64/openat/openat64 of a model path give the program a real placeholder fd
 *    (/dev/null) that stands for the model fd; close, dup, dup2, dup3, fcntl(F_DUPFD*)
 *    keep the table of placeholders (a model file is closed when its last placeholder is);
 *  - read/write/pread/pwrite (and 64) and ioctl on model fds are requests; an ioctl's
 *    struct is copied out of the program byte for byte (its argsz, or what of it is
 *    readable: a bad pointer is EFAULT), the kernel model copies it in and out, and the
 *    bytes it changed are copied back; the fds inside structs (the container fd of
 *    VFIO_GROUP_SET_CONTAINER, the group fds of a hot reset, SET_IRQS and IOEVENTFD
 *    eventfds) are translated: a program eventfd is stood for by a model eventfd whose
 *    signals the server hands back with every reply, and the shim adds them to the real
 *    eventfd;
 *  - mmap of a model fd reserves a real PROT_NONE range and maps the model region at the
 *    same address in the model process; the program's loads and stores there fault, the
 *    SIGSEGV handler (installed first, kept first: the program's sigaction/signal for
 *    SIGSEGV and SIGBUS only record its handler) decodes the x86-64 instruction, performs
 *    the access in the model, puts a loaded value in the register and steps over the
 *    instruction; when the model raises SIGBUS or SIGSEGV the program's handler runs with
 *    that si_signo/si_code/si_addr (or the default action ends the program);
 *  - the kernel's voice: klogctl(2), /dev/kmsg and /proc/sys/kernel/tainted show the model
 *    kernel's log (dmesg's layout: its printk lines, WARNINGs, lockdep reports, DMAR
 *    faults) and taint flags, not the host's (a snapshot when opened);
 *  - eventfd_write/eventfd_read (glibc's bypass the interposed write/read) go through
 *    write/read;
 *  - threads: one connection per thread (a thread blocked in a request does not hold up
 *    the others); fork: the child connects as the model's forked child;
 *  - vfio_sim_lock_state(name), the shim's one entry point of its own (not a libc
 *    function): a test program finds it with dlsym(RTLD_DEFAULT, ...) to wait, through
 *    the model, until another thread holds a kernel lock (absent on a real host).
 *
 * The only C of the project besides test/c/. Built by `npm run build:native`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <ucontext.h>
#include <unistd.h>

/* ---- protocol (src/server/protocol.ts) ------------------------------------------ */
enum {
	OP_HELLO = 1, OP_OPEN, OP_CLOSE, OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE, OP_IOCTL,
	OP_MMAP, OP_MUNMAP, OP_LOAD, OP_STORE, OP_READLINK, OP_EVENTFD_BIND, OP_FORK,
	OP_OPENDIR, OP_READDIR, OP_CLOSEDIR, OP_KLOG, OP_TAINTED, OP_LOCK_STATE,
};
enum { HELLO_PROCESS = 0, HELLO_THREAD = 1, HELLO_FORK_CHILD = 2 };
enum { ARG_VALUE = 0, ARG_POINTER = 1 };
#define MAX_TRANSFER (1024 * 1024)
#define ACCESS_SIGNAL 1

/* ---- real libc ----------------------------------------------------------------- */
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static ssize_t (*real_readlink)(const char *, char *, size_t);
static DIR *(*real_opendir)(const char *);
static struct dirent *(*real_readdir)(DIR *);
static int (*real_closedir)(DIR *);
static int (*real_dirfd)(DIR *);
static void (*real_rewinddir)(DIR *);
static FILE *(*real_fopen)(const char *, const char *);

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p == NULL) {
		fprintf(stderr, "vfio-sim shim: libc has no %s\n", name);
		_exit(127);
	}
	return p;
}

static void resolve(void)
{
	if (real_open != NULL)
		return;
	real_openat = next_sym("openat");
	real_close = next_sym("close");
	real_dup = next_sym("dup");
	real_dup2 = next_sym("dup2");
	real_dup3 = next_sym("dup3");
	real_fcntl = next_sym("fcntl");
	real_read = next_sym("read");
	real_write = next_sym("write");
	real_pread = next_sym("pread");
	real_pwrite = next_sym("pwrite");
	real_ioctl = next_sym("ioctl");
	real_mmap = next_sym("mmap");
	real_munmap = next_sym("munmap");
	real_sigaction = next_sym("sigaction");
	real_readlink = next_sym("readlink");
	real_opendir = next_sym("opendir");
	real_readdir = next_sym("readdir");
	real_closedir = next_sym("closedir");
	real_dirfd = next_sym("dirfd");
	real_rewinddir = next_sym("rewinddir");
	real_fopen = next_sym("fopen");
	real_open = next_sym("open");
}

/* ---- state --------------------------------------------------------------------- */
#define MAX_FDS 4096
#define MAX_MODEL_FDS 1024
enum { KIND_OTHER = 0, KIND_CONTAINER, KIND_GROUP, KIND_DEVICE };

static int enabled;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char prog_name[64];
/* the server's token of this process (HELLO), and for whom it was made */
static uint32_t proc_token;
static pid_t token_pid;
static uint32_t fork_token;
static __thread int tls_sock = -1;
static pthread_key_t sock_key;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* real fd -> model fd + 1 (0: not a model fd) */
static int model_of[MAX_FDS];
/* model fd -> placeholders standing for it, and what it is */
static int model_refs[MAX_MODEL_FDS];
static unsigned char model_kind[MAX_MODEL_FDS];
/* program eventfd -> model eventfd + 1 */
static int efd_bound[MAX_FDS];
/* program eventfds registered as ioeventfds: the program's writes reach the model */
static unsigned char efd_to_model[MAX_FDS];

/* model mappings in the program: [start, end) */
#define MAX_RANGES 256
static struct { uintptr_t start, end; } ranges[MAX_RANGES];
static int nranges;

/* the program's own SIGSEGV/SIGBUS dispositions (ours stay installed) */
static struct sigaction prog_act[65];

static int model_fd(int fd)
{
	return fd >= 0 && fd < MAX_FDS ? model_of[fd] - 1 : -1;
}

/* ---- transport ----------------------------------------------------------------- */
static void lost(void)
{
	static const char m[] = "vfio-sim shim: lost the connection to the model server\n";
	(void)!real_write(2, m, sizeof(m) - 1);
	_exit(125);
}

static int send_all(int s, const void *b, size_t n)
{
	const char *p = b;
	while (n > 0) {
		ssize_t r = send(s, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int recv_all(int s, void *b, size_t n)
{
	char *p = b;
	while (n > 0) {
		ssize_t r = recv(s, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int64_t transact(int s, uint32_t op, const void *a, size_t alen, const void *b, size_t blen,
			void *out, size_t outcap, size_t *outlen);

static void sock_destructor(void *v)
{
	int s = (int)(intptr_t)v - 1;
	if (s >= 0)
		real_close(s);
}

/* connect to the server and say who we are; the socket, or -1 */
static int dial(uint32_t kind, uint32_t token, uint32_t *result)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, sizeof(sa.sun_path));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		real_close(s);
		return -1;
	}
	/* out of the way of the program's own fd numbers */
	int hi = real_fcntl(s, F_DUPFD_CLOEXEC, 900);
	if (hi >= 0) {
		real_close(s);
		s = hi;
	}
	uint32_t h[3] = { kind, token, (uint32_t)getpid() };
	int64_t r = transact(s, OP_HELLO, h, sizeof(h), prog_name, strlen(prog_name), NULL, 0, NULL);
	if (r < 0) {
		real_close(s);
		return -1;
	}
	*result = (uint32_t)r;
	return s;
}

/* this thread's connection (made on first use) */
static int conn(void)
{
	if (tls_sock >= 0)
		return tls_sock;
	uint32_t tok;
	int s = dial(proc_token == 0 ? HELLO_PROCESS : HELLO_THREAD, proc_token, &tok);
	if (s < 0)
		lost();
	if (proc_token == 0) {
		proc_token = tok;
		token_pid = getpid();
	}
	tls_sock = s;
	pthread_setspecific(sock_key, (void *)(intptr_t)(s + 1));
	return s;
}

/*
 * One request: op, two payload pieces; the reply's payload into out (at most outcap
 * bytes, its length in *outlen). Returns the reply's ret. Signals of program eventfds
 * listed in the reply are added to them.
 */
static int64_t transact(int s, uint32_t op, const void *a, size_t alen, const void *b, size_t blen,
			void *out, size_t outcap, size_t *outlen)
{
	uint32_t hdr[2] = { (uint32_t)(4 + alen + blen), op };
	if (send_all(s, hdr, sizeof(hdr)) || (alen && send_all(s, a, alen)) || (blen && send_all(s, b, blen)))
		lost();
	uint32_t len;
	int64_t ret;
	uint32_t nsig;
	if (recv_all(s, &len, 4) || recv_all(s, &ret, 8) || recv_all(s, &nsig, 4))
		lost();
	size_t rest = len - 12;
	for (uint32_t i = 0; i < nsig; i++) {
		struct { int32_t fd; uint32_t pad; uint64_t count; } sg;
		if (recv_all(s, &sg, sizeof(sg)))
			lost();
		rest -= sizeof(sg);
		(void)!real_write(sg.fd, &sg.count, 8);
	}
	size_t keep = rest < outcap ? rest : outcap;
	if (keep && recv_all(s, out, keep))
		lost();
	for (size_t left = rest - keep; left > 0;) {
		char junk[256];
		size_t n = left < sizeof(junk) ? left : sizeof(junk);
		if (recv_all(s, junk, n))
			lost();
		left -= n;
	}
	if (outlen)
		*outlen = keep;
	return ret;
}

static int64_t request(uint32_t op, const void *a, size_t alen, const void *b, size_t blen, void *out, size_t outcap, size_t *outlen)
{
	return transact(conn(), op, a, alen, b, blen, out, outcap, outlen);
}

/* a syscall's return from the server's ret */
static long sysret(int64_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (long)r;
}

/*
 * The state of the model kernel's lock `name`, as its lock events name it (e.g.
 * "memory_lock:0000:01:00.0"): 0 free, 1 held for read, 2 held for write; -1 with errno
 * ENOENT for a lock the model never took. Not a libc function: a program looks it up
 * with dlsym(RTLD_DEFAULT, "vfio_sim_lock_state") so that it still runs on a real kernel.
 */
__attribute__((visibility("default"))) int vfio_sim_lock_state(const char *name)
{
	return (int)sysret(request(OP_LOCK_STATE, name, strlen(name), NULL, 0, NULL, 0, NULL));
}

/* ---- program memory, copied safely (a bad pointer is EFAULT, not a crash) --------- */
static size_t peek_user(const void *addr, void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		uintptr_t p = (uintptr_t)addr + done;
		size_t chunk = 4096 - (p & 4095);
		if (chunk > n - done)
			chunk = n - done;
		struct iovec l = { (char *)buf + done, chunk }, r = { (void *)p, chunk };
		if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != (ssize_t)chunk)
			break;
		done += chunk;
	}
	return done;
}

static int poke_user(void *addr, const void *buf, size_t n)
{
	struct iovec l = { (void *)buf, n }, r = { addr, n };
	return process_vm_writev(getpid(), &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* ---- model paths and placeholders ------------------------------------------------ */
static int is_model_path(const char *p)
{
	if (!enabled || p == NULL)
		return 0;
	return strncmp(p, "/dev/vfio/", 10) == 0 || strcmp(p, "/dev/iommu") == 0 || strncmp(p, "/sys/bus/pci/", 13) == 0 ||
	       strncmp(p, "/sys/kernel/iommu_groups", 24) == 0 || strncmp(p, "/sys/devices/pci", 16) == 0;
}

/* a real fd standing for model fd m (or -1 with errno, the model fd closed) */
static int placeholder(int m, int flags, unsigned char kind)
{
	int fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
	if (fd < 0 || fd >= MAX_FDS || m < 0 || m >= MAX_MODEL_FDS) {
		int e = fd < 0 ? errno : EMFILE;
		if (fd >= 0)
			real_close(fd);
		int32_t mf = m;
		request(OP_CLOSE, &mf, 4, NULL, 0, NULL, 0, NULL);
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&table_lock);
	model_of[fd] = m + 1;
	model_refs[m]++;
	model_kind[m] = kind;
	pthread_mutex_unlock(&table_lock);
	return fd;
}

static int model_open(const char *path, int flags)
{
	uint32_t f = (uint32_t)flags;
	int64_t r = request(OP_OPEN, &f, 4, path, strlen(path), NULL, 0, NULL);
	if (r < 0)
		return (int)sysret(r);
	unsigned char kind = strcmp(path, "/dev/vfio/vfio") == 0 ? KIND_CONTAINER : strncmp(path, "/dev/vfio/", 10) == 0 ? KIND_GROUP : KIND_OTHER;
	return placeholder((int)r, flags, kind);
}

/* drop placeholder fd (already closed or about to be replaced); close the model fd with the last one */
static void drop_placeholder(int fd)
{
	int m = model_fd(fd);
	if (m < 0)
		return;
	pthread_mutex_lock(&table_lock);
	model_of[fd] = 0;
	int last = --model_refs[m] == 0;
	pthread_mutex_unlock(&table_lock);
	if (last) {
		int32_t mf = m;
		request(OP_CLOSE, &mf, 4, NULL, 0, NULL, 0, NULL);
	}
}

static void note_dup(int from, int to)
{
	int m = model_fd(from);
	if (m < 0 || to < 0 || to >= MAX_FDS)
		return;
	pthread_mutex_lock(&table_lock);
	model_of[to] = m + 1;
	model_refs[m]++;
	pthread_mutex_unlock(&table_lock);
}

/*
 * The kernel's voice: /dev/kmsg and /proc/sys/kernel/tainted of the model kernel. Opening
 * one gives a real fd (a memfd) holding what the file shows at that moment: the log's
 * records, or the taint flags.
 */
static int is_kvoice_path(const char *p)
{
	return enabled && p != NULL && (strcmp(p, "/dev/kmsg") == 0 || strcmp(p, "/proc/sys/kernel/tainted") == 0);
}

static int kvoice_open(const char *path, int flags)
{
	char *text = malloc(MAX_TRANSFER + 32);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t n = 0;
	if (strcmp(path, "/dev/kmsg") == 0) {
		uint32_t fmt = 1;
		int64_t r = request(OP_KLOG, &fmt, 4, NULL, 0, text, MAX_TRANSFER, &n);
		if (r < 0) {
			free(text);
			return (int)sysret(r);
		}
	} else {
		int64_t r = request(OP_TAINTED, NULL, 0, NULL, 0, NULL, 0, NULL);
		n = (size_t)snprintf(text, 32, "%lld\n", (long long)(r < 0 ? 0 : r));
	}
	int fd = memfd_create(path[1] == 'd' ? "kmsg" : "tainted", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (fd < 0 || (n > 0 && real_write(fd, text, n) != (ssize_t)n)) {
		int e = errno;
		free(text);
		if (fd >= 0)
			real_close(fd);
		errno = e;
		return -1;
	}
	free(text);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

int klogctl(int type, char *buf, int len)
{
	resolve();
	if (!enabled)
		return (int)syscall(SYS_syslog, type, buf, len);
	switch (type) {
	case 2: /* SYSLOG_ACTION_READ */
	case 3: /* SYSLOG_ACTION_READ_ALL */
	case 4: { /* SYSLOG_ACTION_READ_CLEAR */
		if (len < 0 || (buf == NULL && len > 0)) {
			errno = EINVAL;
			return -1;
		}
		char *text = malloc(MAX_TRANSFER);
		if (text == NULL) {
			errno = ENOMEM;
			return -1;
		}
		uint32_t fmt = 0;
		size_t n = 0;
		int64_t r = request(OP_KLOG, &fmt, 4, NULL, 0, text, MAX_TRANSFER, &n);
		if (r < 0) {
			free(text);
			return (int)sysret(r);
		}
		/* READ_ALL gives the last len bytes */
		size_t take = n < (size_t)len ? n : (size_t)len;
		int bad = take > 0 && poke_user(buf, text + n - take, take) < 0;
		free(text);
		if (bad) {
			errno = EFAULT;
			return -1;
		}
		return (int)take;
	}
	case 10: /* SYSLOG_ACTION_SIZE_BUFFER */
		return MAX_TRANSFER;
	case 0: case 1: case 5: case 6: case 7: case 8:
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
}

int open(const char *path, int flags, ...)
{
	resolve();
	mode_t mode = 0;
	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (is_model_path(path))
		return model_open(path, flags);
	if (is_kvoice_path(path))
		return kvoice_open(path, flags);
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
	resolve();
	mode_t mode = 0;
	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (path[0] == '/' && is_model_path(path))
		return model_open(path, flags);
	if (is_kvoice_path(path))
		return kvoice_open(path, flags);
	return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int close(int fd)
{
	resolve();
	if (fd >= 0 && fd < MAX_FDS && efd_bound[fd]) {
		efd_bound[fd] = 0;
		efd_to_model[fd] = 0;
	}
	if (model_fd(fd) < 0)
		return real_close(fd);
	int r = real_close(fd);
	drop_placeholder(fd);
	return r;
}

int dup(int fd)
{
	resolve();
	int r = real_dup(fd);
	if (r >= 0)
		note_dup(fd, r);
	return r;
}

int dup2(int oldfd, int newfd)
{
	resolve();
	if (oldfd == newfd)
		return real_dup2(oldfd, newfd);
	int r = real_dup2(oldfd, newfd);
	if (r >= 0) {
		drop_placeholder(newfd);
		note_dup(oldfd, newfd);
	}
	return r;
}

int dup3(int oldfd, int newfd, int flags)
{
	resolve();
	int r = real_dup3(oldfd, newfd, flags);
	if (r >= 0) {
		drop_placeholder(newfd);
		note_dup(oldfd, newfd);
	}
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	resolve();
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	int r = real_fcntl(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		note_dup(fd, r);
	return r;
}

int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* ---- read / write ---------------------------------------------------------------- */
static ssize_t model_read(int m, void *buf, size_t count, off_t off, int positional)
{
	struct { int32_t fd; uint32_t count; uint64_t off; } q = { m, count > MAX_TRANSFER ? MAX_TRANSFER : (uint32_t)count, (uint64_t)off };
	static __thread char *tmp;
	if (tmp == NULL && (tmp = malloc(MAX_TRANSFER)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t got;
	int64_t r = request(positional ? OP_PREAD : OP_READ, &q, positional ? 16 : 8, NULL, 0, tmp, MAX_TRANSFER, &got);
	if (r < 0)
		return sysret(r);
	if (got > 0 && poke_user(buf, tmp, got) < 0) {
		errno = EFAULT;
		return -1;
	}
	return (ssize_t)r;
}

static ssize_t model_write(int m, const void *buf, size_t count, off_t off, int positional)
{
	if (count > MAX_TRANSFER)
		count = MAX_TRANSFER;
	static __thread char *tmp;
	if (tmp == NULL && (tmp = malloc(MAX_TRANSFER)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (peek_user(buf, tmp, count) != count) {
		errno = EFAULT;
		return -1;
	}
	struct { int32_t fd; uint32_t pad; uint64_t off; } q = { m, 0, (uint64_t)off };
	return sysret(request(positional ? OP_PWRITE : OP_WRITE, &q, positional ? 16 : 4, tmp, count, NULL, 0, NULL));
}

ssize_t read(int fd, void *buf, size_t count)
{
	resolve();
	int m = model_fd(fd);
	return m < 0 ? real_read(fd, buf, count) : model_read(m, buf, count, 0, 0);
}

ssize_t write(int fd, const void *buf, size_t count)
{
	resolve();
	int m = model_fd(fd);
	if (m >= 0)
		return model_write(m, buf, count, 0, 0);
	ssize_t r = real_write(fd, buf, count);
	/* an ioeventfd's trigger: the model eventfd standing for it is written too (the kernel's ioeventfd handler runs there) */
	if (r == 8 && fd < MAX_FDS && efd_to_model[fd] && efd_bound[fd]) {
		uint64_t v;
		memcpy(&v, buf, 8);
		struct { int32_t fd; uint32_t pad; } q = { efd_bound[fd] - 1, 0 };
		request(OP_WRITE, &q, 4, &v, 8, NULL, 0, NULL);
		/* the program's own eventfd keeps nothing the model consumed */
		uint64_t drain;
		real_read(fd, &drain, 8);
	}
	return r;
}

/*
 * glibc's eventfd_write/eventfd_read call the write/read system calls directly, past the
 * interposed write and read: these go through them, so that a write to an eventfd
 * registered with VFIO_DEVICE_IOEVENTFD reaches the model (and 8 bytes either way, as glibc).
 */
int eventfd_write(int fd, uint64_t value)
{
	return write(fd, &value, sizeof(value)) == sizeof(value) ? 0 : -1;
}

int eventfd_read(int fd, uint64_t *value)
{
	return read(fd, value, sizeof(*value)) == sizeof(*value) ? 0 : -1;
}

ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
	resolve();
	int m = model_fd(fd);
	return m < 0 ? real_pread(fd, buf, count, off) : model_read(m, buf, count, off, 1);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	resolve();
	int m = model_fd(fd);
	return m < 0 ? real_pwrite(fd, buf, count, off) : model_write(m, buf, count, off, 1);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t off) __attribute__((alias("pread")));
ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off) __attribute__((alias("pwrite")));

ssize_t readlink(const char *path, char *buf, size_t bufsiz)
{
	resolve();
	if (!is_model_path(path) || strncmp(path, "/sys/", 5) != 0)
		return real_readlink(path, buf, bufsiz);
	char tmp[4096];
	uint32_t n = bufsiz > sizeof(tmp) ? sizeof(tmp) : (uint32_t)bufsiz;
	size_t got;
	int64_t r = request(OP_READLINK, &n, 4, path, strlen(path), tmp, sizeof(tmp), &got);
	if (r < 0)
		return sysret(r);
	if (poke_user(buf, tmp, got) < 0) {
		errno = EFAULT;
		return -1;
	}
	return (ssize_t)r;
}

/* ---- directories and stdio over model files ------------------------------------ */
#define MODEL_DIR_MAGIC 0x76666469u
/* a DIR * the shim made: opendir of a model directory (readdir goes to the model's getdents64) */
struct model_dir {
	uint32_t magic;
	uint32_t handle;
	char path[512];
	struct dirent ent;
};
#define MAX_DIRS 64
static struct model_dir *dirs[MAX_DIRS];

static struct model_dir *as_model_dir(DIR *d)
{
	for (int i = 0; i < MAX_DIRS; i++)
		if (dirs[i] != NULL && (DIR *)dirs[i] == d)
			return dirs[i];
	return NULL;
}

static DIR *model_opendir(const char *path)
{
	int64_t r = request(OP_OPENDIR, path, strlen(path), NULL, 0, NULL, 0, NULL);
	if (r < 0) {
		errno = (int)-r;
		return NULL;
	}
	struct model_dir *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		uint32_t h = (uint32_t)r;
		request(OP_CLOSEDIR, &h, 4, NULL, 0, NULL, 0, NULL);
		errno = ENOMEM;
		return NULL;
	}
	m->magic = MODEL_DIR_MAGIC;
	m->handle = (uint32_t)r;
	snprintf(m->path, sizeof(m->path), "%s", path);
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_DIRS; i++)
		if (dirs[i] == NULL) {
			dirs[i] = m;
			break;
		}
	pthread_mutex_unlock(&table_lock);
	return (DIR *)m;
}

DIR *opendir(const char *path)
{
	resolve();
	return is_model_path(path) ? model_opendir(path) : real_opendir(path);
}

struct dirent *readdir(DIR *d)
{
	resolve();
	struct model_dir *m = as_model_dir(d);
	if (m == NULL)
		return real_readdir(d);
	unsigned char buf[9 + 256];
	size_t got;
	int64_t r = request(OP_READDIR, &m->handle, 4, NULL, 0, buf, sizeof(buf) - 1, &got);
	if (r <= 0 || got < 9) {
		if (r < 0)
			errno = (int)-r;
		return NULL;
	}
	memset(&m->ent, 0, sizeof(m->ent));
	memcpy(&m->ent.d_ino, buf, 8);
	m->ent.d_type = buf[8];
	m->ent.d_reclen = sizeof(m->ent);
	size_t n = got - 9 < sizeof(m->ent.d_name) - 1 ? got - 9 : sizeof(m->ent.d_name) - 1;
	memcpy(m->ent.d_name, buf + 9, n);
	return &m->ent;
}

struct dirent64 *readdir64(DIR *d) __attribute__((alias("readdir")));

int closedir(DIR *d)
{
	resolve();
	struct model_dir *m = as_model_dir(d);
	if (m == NULL)
		return real_closedir(d);
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_DIRS; i++)
		if (dirs[i] == m)
			dirs[i] = NULL;
	pthread_mutex_unlock(&table_lock);
	int64_t r = request(OP_CLOSEDIR, &m->handle, 4, NULL, 0, NULL, 0, NULL);
	free(m);
	return (int)sysret(r);
}

void rewinddir(DIR *d)
{
	resolve();
	struct model_dir *m = as_model_dir(d);
	if (m == NULL) {
		real_rewinddir(d);
		return;
	}
	/* the model's stream starts again: a new one on the same path */
	request(OP_CLOSEDIR, &m->handle, 4, NULL, 0, NULL, 0, NULL);
	int64_t r = request(OP_OPENDIR, m->path, strlen(m->path), NULL, 0, NULL, 0, NULL);
	if (r >= 0)
		m->handle = (uint32_t)r;
}

int dirfd(DIR *d)
{
	resolve();
	if (as_model_dir(d) == NULL)
		return real_dirfd(d);
	errno = ENOTSUP;
	return -1;
}

/* stdio over a model file: a FILE whose reads and writes are the placeholder fd's (fopencookie) */
static ssize_t cookie_read(void *c, char *buf, size_t n)
{
	return read((int)(intptr_t)c, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
	return write((int)(intptr_t)c, buf, n);
}

static int cookie_close(void *c)
{
	return close((int)(intptr_t)c);
}

FILE *fopen(const char *path, const char *mode)
{
	resolve();
	if (is_kvoice_path(path)) {
		int kfd = kvoice_open(path, strchr(mode, 'e') != NULL ? O_CLOEXEC : 0);
		return kfd < 0 ? NULL : fdopen(kfd, mode);
	}
	if (!is_model_path(path))
		return real_fopen(path, mode);
	int plus = strchr(mode, '+') != NULL;
	int flags = mode[0] == 'r' ? (plus ? O_RDWR : O_RDONLY) : (plus ? O_RDWR : O_WRONLY);
	if (strchr(mode, 'e') != NULL)
		flags |= O_CLOEXEC;
	int fd = model_open(path, flags);
	if (fd < 0)
		return NULL;
	cookie_io_functions_t io = { .read = cookie_read, .write = cookie_write, .seek = NULL, .close = cookie_close };
	FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);
	if (f == NULL)
		close(fd);
	return f;
}

FILE *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));

/* ---- ioctl ----------------------------------------------------------------------- */
#define VFIO_IO(n) (0x3b00 | (100 + (n)))
#define VFIO_IRQ_SET_DATA_EVENTFD (1u << 2)

/*
 * The model fd standing for a program fd inside a struct: a model fd as it is, -1 kept, a
 * closed fd one the model does not have either (EBADF there too), and any other open fd
 * of the program (an eventfd; or a pipe passed where a VFIO fd belongs: the kernel's
 * f_op check refuses it) a model eventfd bound to it, whose signals reach it.
 */
static int32_t translate_fd(int32_t fd)
{
	if (fd < 0)
		return fd;
	int m = model_fd(fd);
	if (m >= 0)
		return m;
	if (fd >= MAX_FDS || real_fcntl(fd, F_GETFD) < 0)
		return 0x7fffffff;
	if (efd_bound[fd])
		return efd_bound[fd] - 1;
	int32_t pf = fd;
	int64_t r = request(OP_EVENTFD_BIND, &pf, 4, NULL, 0, NULL, 0, NULL);
	if (r < 0)
		return 0x7fffffff;
	efd_bound[fd] = (int)r + 1;
	return (int32_t)r;
}

static int model_ioctl(int fd, int m, unsigned long cmd, void *arg)
{
	struct { int32_t fd; uint32_t cmd, kind, pad; uint64_t value; } q = { m, (uint32_t)cmd, ARG_VALUE, 0, (uint64_t)(uintptr_t)arg };
	unsigned char kind = model_kind[m];
	static __thread unsigned char *in, *out;
	if (in == NULL && ((in = malloc(MAX_TRANSFER)) == NULL || (out = malloc(MAX_TRANSFER)) == NULL)) {
		errno = ENOMEM;
		return -1;
	}
	size_t n = 0;
	switch (cmd) {
	case VFIO_IO(0): case VFIO_IO(1): case VFIO_IO(2): case VFIO_IO(5): case VFIO_IO(11):
		break; /* integer argument (or none) */
	case VFIO_IO(15): case VFIO_IO(16):
		if (kind == KIND_CONTAINER)
			break; /* VFIO_IOMMU_ENABLE / DISABLE */
		goto by_argsz;
	case VFIO_IO(4): { /* VFIO_GROUP_SET_CONTAINER: int * */
		int32_t cfd;
		if (peek_user(arg, &cfd, 4) != 4) {
			errno = EFAULT;
			return -1;
		}
		cfd = translate_fd(cfd);
		memcpy(in, &cfd, 4);
		n = 4;
		q.kind = ARG_POINTER;
		break;
	}
	case VFIO_IO(6): { /* VFIO_GROUP_GET_DEVICE_FD: char * */
		n = peek_user(arg, in, 256);
		void *nul = memchr(in, 0, n);
		if (nul == NULL) {
			errno = n == 0 ? EFAULT : EINVAL;
			return -1;
		}
		n = (size_t)((unsigned char *)nul - in) + 1;
		q.kind = ARG_POINTER;
		int64_t r = request(OP_IOCTL, &q, sizeof(q), in, n, out, MAX_TRANSFER, NULL);
		if (r < 0)
			return (int)sysret(r);
		return placeholder((int)r, O_CLOEXEC, KIND_DEVICE);
	}
	case VFIO_IO(3): case VFIO_IO(7): case VFIO_IO(8): case VFIO_IO(9): case VFIO_IO(10):
	case VFIO_IO(12): case VFIO_IO(13): case VFIO_IO(14): case VFIO_IO(17):
	by_argsz: {
		/* a struct that starts with argsz: copy what the kernel may read */
		uint32_t argsz;
		if (peek_user(arg, &argsz, 4) != 4) {
			errno = EFAULT;
			return -1;
		}
		size_t want = argsz < 4 ? 4 : argsz > MAX_TRANSFER ? MAX_TRANSFER : argsz;
		n = peek_user(arg, in, want);
		q.kind = ARG_POINTER;
		if (cmd == VFIO_IO(10) && n >= 20) { /* VFIO_DEVICE_SET_IRQS: eventfds in data[] */
			uint32_t flags, count;
			memcpy(&flags, in + 4, 4);
			memcpy(&count, in + 16, 4);
			if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
				for (uint32_t i = 0; i < count && 20 + 4 * (i + 1) <= n; i++) {
					int32_t e;
					memcpy(&e, in + 20 + 4 * i, 4);
					e = translate_fd(e);
					memcpy(in + 20 + 4 * i, &e, 4);
				}
		} else if (cmd == VFIO_IO(13) && kind == KIND_DEVICE && n >= 12) { /* VFIO_DEVICE_PCI_HOT_RESET: group fds */
			uint32_t count;
			memcpy(&count, in + 8, 4);
			for (uint32_t i = 0; i < count && 12 + 4 * (i + 1) <= n; i++) {
				int32_t g;
				memcpy(&g, in + 12 + 4 * i, 4);
				g = translate_fd(g);
				memcpy(in + 12 + 4 * i, &g, 4);
			}
		} else if (cmd == VFIO_IO(16) && kind == KIND_DEVICE && n >= 28) { /* VFIO_DEVICE_IOEVENTFD */
			int32_t e, pfd;
			memcpy(&pfd, in + 24, 4);
			e = translate_fd(pfd);
			memcpy(in + 24, &e, 4);
			if (pfd >= 0 && pfd < MAX_FDS && model_fd(pfd) < 0)
				efd_to_model[pfd] = 1;
		}
		break;
	}
	default:
		break; /* not a VFIO struct ioctl: the argument as an integer (the kernel answers ENOTTY without reading it) */
	}
	size_t got = 0;
	int64_t r = request(OP_IOCTL, &q, sizeof(q), in, n, out, MAX_TRANSFER, &got);
	/* copy back the bytes the kernel changed (copy_to_user) */
	for (size_t i = 0; i < got && i < n;) {
		if (out[i] == in[i]) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < got && j < n && out[j] != in[j])
			j++;
		if (poke_user((char *)arg + i, out + i, j - i) < 0 && r >= 0) {
			errno = EFAULT;
			return -1;
		}
		i = j;
	}
	(void)fd;
	return (int)sysret(r);
}

int ioctl(int fd, unsigned long cmd, ...)
{
	resolve();
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	int m = model_fd(fd);
	if (m < 0)
		return real_ioctl(fd, cmd, arg);
	return model_ioctl(fd, m, cmd, arg);
}

/* ---- mmap ------------------------------------------------------------------------ */
static int in_model_range(uintptr_t a)
{
	for (int i = 0; i < nranges; i++)
		if (a >= ranges[i].start && a < ranges[i].end)
			return 1;
	return 0;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve();
	int m = model_fd(fd);
	if (m < 0 || (flags & MAP_ANONYMOUS))
		return real_mmap(addr, len, prot, flags, fd, off);
	/* a real range nobody can touch; the model maps the region at the same address */
	void *r = real_mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)), -1, 0);
	if (r == MAP_FAILED)
		return r;
	struct { uint64_t addr, len; uint32_t prot, flags; int32_t fd; uint32_t pad; uint64_t off; } q = {
		(uint64_t)(uintptr_t)r, len, (uint32_t)prot, (uint32_t)((flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED), m, 0, (uint64_t)off
	};
	int64_t ret = request(OP_MMAP, &q, sizeof(q), NULL, 0, NULL, 0, NULL);
	if (ret < 0) {
		real_munmap(r, len);
		errno = (int)-ret;
		return MAP_FAILED;
	}
	pthread_mutex_lock(&table_lock);
	/* MAP_FIXED over an earlier model mapping replaced it (in the model too) */
	uintptr_t s0 = (uintptr_t)r, e0 = s0 + ((len + 4095) & ~(size_t)4095);
	for (int i = 0; i < nranges; i++)
		if (ranges[i].start >= s0 && ranges[i].end <= e0)
			ranges[i--] = ranges[--nranges];
	if (nranges < MAX_RANGES) {
		ranges[nranges].start = (uintptr_t)r;
		ranges[nranges].end = (uintptr_t)r + ((len + 4095) & ~(size_t)4095);
		nranges++;
	}
	pthread_mutex_unlock(&table_lock);
	return r;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
	resolve();
	uintptr_t s = (uintptr_t)addr, e = s + len;
	int model = 0;
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < nranges; i++) {
		if (ranges[i].end <= s || ranges[i].start >= e)
			continue;
		model = 1;
		if (s <= ranges[i].start && e >= ranges[i].end) {
			ranges[i--] = ranges[--nranges];
		} else if (s <= ranges[i].start) {
			ranges[i].start = e;
		} else if (e >= ranges[i].end) {
			ranges[i].end = s;
		} else if (nranges < MAX_RANGES) {
			ranges[nranges].start = e;
			ranges[nranges].end = ranges[i].end;
			nranges++;
			ranges[i].end = s;
		}
	}
	pthread_mutex_unlock(&table_lock);
	if (model) {
		uint64_t q[2] = { s, len };
		int64_t r = request(OP_MUNMAP, q, sizeof(q), NULL, 0, NULL, 0, NULL);
		if (r < 0)
			return (int)sysret(r);
	}
	return real_munmap(addr, len);
}

/* ---- the fault path: decode, access the model, resume --------------------------- */
struct insn {
	int len;    /* bytes of the instruction */
	int store;  /* 1: store to memory */
	int size;   /* bytes of the memory access */
	int dst;    /* bytes written to the register (loads) */
	int sext;   /* loads: sign-extend from size */
	int reg;    /* register number (0-15), -1 for an immediate */
	int high8;  /* AH/CH/DH/BH */
	uint64_t imm;
};

static const int GREG[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
			      REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };

/*
 * The x86-64 moves compilers emit for volatile 1/2/4/8-byte accesses: mov r/m,r (88/89),
 * mov r,r/m (8A/8B), mov r/m,imm (C6/C7), movzx/movsx (0F B6/B7/BE/BF), movsxd (63).
 * Legacy prefixes 66 (operand size), segment overrides and REX are understood. Returns
 * 0 for any other instruction.
 */
static int decode(const uint8_t *p, struct insn *in)
{
	const uint8_t *s = p;
	int opsize16 = 0, rex = 0;
	for (;; p++) {
		if (*p == 0x66)
			opsize16 = 1;
		else if (*p == 0x2e || *p == 0x3e || *p == 0x26 || *p == 0x36 || *p == 0x64 || *p == 0x65 || *p == 0x67)
			;
		else
			break;
	}
	if ((*p & 0xf0) == 0x40)
		rex = *p++;
	int w = rex & 8, osz = w ? 8 : opsize16 ? 2 : 4;
	memset(in, 0, sizeof(*in));
	int op = *p++, imm = 0;
	switch (op) {
	case 0x88: in->store = 1; in->size = 1; break;
	case 0x89: in->store = 1; in->size = osz; break;
	case 0x8a: in->size = in->dst = 1; break;
	case 0x8b: in->size = in->dst = osz; break;
	case 0xc6: in->store = 1; in->size = 1; imm = 1; break;
	case 0xc7: in->store = 1; in->size = osz; imm = osz == 2 ? 2 : 4; break;
	case 0x63: if (!w) return 0; in->size = 4; in->dst = 8; in->sext = 1; break;
	case 0x0f: {
		int op2 = *p++;
		if (op2 != 0xb6 && op2 != 0xb7 && op2 != 0xbe && op2 != 0xbf)
			return 0;
		in->size = (op2 & 1) ? 2 : 1;
		in->dst = osz;
		in->sext = op2 >= 0xbe;
		break;
	}
	default:
		return 0;
	}
	int modrm = *p++, mod = modrm >> 6, rm = modrm & 7, reg = (modrm >> 3) & 7;
	if (mod == 3)
		return 0;
	if (rm == 4) {
		int sib = *p++;
		if (mod == 0 && (sib & 7) == 5)
			p += 4;
	} else if (mod == 0 && rm == 5) {
		p += 4; /* RIP-relative */
	}
	p += mod == 1 ? 1 : mod == 2 ? 4 : 0;
	if (imm) {
		if (reg != 0)
			return 0;
		in->reg = -1;
		if (imm == 1) in->imm = *p;
		else if (imm == 2) in->imm = (uint16_t)(p[0] | p[1] << 8);
		else {
			int32_t v;
			memcpy(&v, p, 4);
			in->imm = (uint64_t)(int64_t)v; /* imm32 sign-extended for a 64-bit store */
		}
		p += imm;
	} else {
		in->reg = reg | ((rex & 4) ? 8 : 0);
		if ((in->store ? in->size : in->dst) == 1 && !rex && reg >= 4) {
			in->high8 = 1;
			in->reg = reg - 4;
		}
	}
	in->len = (int)(p - s);
	return 1;
}

static uint64_t mask(int size)
{
	return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static void write_reg(greg_t *g, const struct insn *in, uint64_t v)
{
	uint64_t *r = (uint64_t *)&g[GREG[in->reg]];
	if (in->sext) {
		int bits = 8 * in->size;
		v = (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits));
	}
	v &= mask(in->dst);
	if (in->high8)
		*r = (*r & ~0xff00ull) | (v << 8);
	else if (in->dst == 4 || in->dst == 8)
		*r = v; /* a 32-bit destination zero-extends */
	else
		*r = (*r & ~mask(in->dst)) | v;
}

static uint64_t read_reg(greg_t *g, const struct insn *in)
{
	if (in->reg < 0)
		return in->imm & mask(in->size);
	uint64_t r = (uint64_t)g[GREG[in->reg]];
	return (in->high8 ? r >> 8 : r) & mask(in->size);
}

static void install_handler(int sig);

/* run the program's handler for sig with (code, addr), as the kernel's signal delivery would */
static void deliver(int sig, int code, void *addr, ucontext_t *uc, const siginfo_t *real)
{
	struct sigaction *pa = &prog_act[sig];
	if (pa->sa_handler == SIG_DFL || pa->sa_handler == SIG_IGN) {
		/* a synchronous fault with no handler ends the program with that signal */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		real_sigaction(sig, &dfl, NULL);
		sigset_t u;
		sigemptyset(&u);
		sigaddset(&u, sig);
		pthread_sigmask(SIG_UNBLOCK, &u, NULL);
		syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
		return;
	}
	siginfo_t info;
	if (real != NULL)
		info = *real;
	else {
		memset(&info, 0, sizeof(info));
		info.si_signo = sig;
		info.si_code = code;
		info.si_addr = addr;
	}
	sigset_t m = pa->sa_mask, old;
	if (!(pa->sa_flags & SA_NODEFER))
		sigaddset(&m, sig);
	pthread_sigmask(SIG_BLOCK, &m, &old);
	struct sigaction h = *pa;
	if (pa->sa_flags & SA_RESETHAND)
		pa->sa_handler = SIG_DFL;
	if (h.sa_flags & SA_SIGINFO)
		h.sa_sigaction(sig, &info, uc);
	else
		h.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved = errno;
	uintptr_t a = (uintptr_t)si->si_addr;
	if (sig == SIGSEGV && enabled && in_model_range(a)) {
		greg_t *g = uc->uc_mcontext.gregs;
		struct insn in;
		if (!decode((const uint8_t *)g[REG_RIP], &in)) {
			static const char m[] = "vfio-sim shim: an access to a model mapping by an instruction the shim does not decode\n";
			(void)!real_write(2, m, sizeof(m) - 1);
			deliver(SIGSEGV, SEGV_ACCERR, si->si_addr, uc, si);
			errno = saved;
			return;
		}
		struct { uint64_t addr; uint32_t size, pad; uint64_t value; } q = { a, (uint32_t)in.size, 0, in.store ? read_reg(g, &in) : 0 };
		struct { uint32_t signo; int32_t code; uint64_t addr; } res;
		size_t got;
		int64_t r = request(in.store ? OP_STORE : OP_LOAD, &q, in.store ? 24 : 12, NULL, 0, &res, sizeof(res), &got);
		if (r == 0) {
			if (!in.store) {
				uint64_t v;
				memcpy(&v, &res, 8);
				write_reg(g, &in, v);
			}
			g[REG_RIP] += in.len;
		} else if (r == ACCESS_SIGNAL && got == sizeof(res)) {
			deliver((int)res.signo, res.code, (void *)(uintptr_t)res.addr, uc, NULL);
		} else {
			deliver(SIGBUS, BUS_ADRERR, si->si_addr, uc, NULL);
		}
		errno = saved;
		return;
	}
	/* not ours: the program's handler, or the default action on return */
	deliver(sig, si->si_code, si->si_addr, uc, si);
	errno = saved;
}

static void install_handler(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	real_sigaction(sig, &sa, NULL);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	resolve();
	if (!enabled || (sig != SIGSEGV && sig != SIGBUS))
		return real_sigaction(sig, act, oact);
	if (oact != NULL)
		*oact = prog_act[sig];
	if (act != NULL)
		prog_act[sig] = *act;
	return 0;
}

sighandler_t signal(int sig, sighandler_t h)
{
	resolve();
	if (!enabled || (sig != SIGSEGV && sig != SIGBUS)) {
		struct sigaction sa, old;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = h;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (real_sigaction(sig, &sa, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	sighandler_t old = prog_act[sig].sa_handler;
	memset(&prog_act[sig], 0, sizeof(prog_act[sig]));
	prog_act[sig].sa_handler = h;
	prog_act[sig].sa_flags = SA_RESTART;
	return old;
}

/* ---- fork -------------------------------------------------------------------------- */
static void before_fork(void)
{
	fork_token = 0;
	if (enabled && proc_token != 0 && token_pid == getpid()) {
		int64_t r = request(OP_FORK, NULL, 0, NULL, 0, NULL, 0, NULL);
		fork_token = r > 0 ? (uint32_t)r : 0;
	}
}

static void in_child(void)
{
	if (!enabled)
		return;
	/* the parent's connections are the parent's: this process is the model's forked child */
	if (tls_sock >= 0)
		real_close(tls_sock);
	tls_sock = -1;
	pthread_setspecific(sock_key, NULL);
	if (fork_token == 0) {
		enabled = 0;
		return;
	}
	uint32_t tok;
	int s = dial(HELLO_FORK_CHILD, fork_token, &tok);
	if (s < 0)
		lost();
	proc_token = tok;
	token_pid = getpid();
	tls_sock = s;
	pthread_setspecific(sock_key, (void *)(intptr_t)(s + 1));
}

/* ---- start ------------------------------------------------------------------------- */
__attribute__((constructor)) static void shim_init(void)
{
	resolve();
	const char *p = getenv("VFIO_SIM_SOCKET");
	if (p == NULL || *p == 0 || strlen(p) >= sizeof(sock_path))
		return;
	strcpy(sock_path, p);
	const char *comm = program_invocation_short_name;
	snprintf(prog_name, sizeof(prog_name), "%s", comm != NULL ? comm : "program");
	pthread_key_create(&sock_key, sock_destructor);
	enabled = 1;
	for (int s = 1; s < 65; s++)
		if (s == SIGSEGV || s == SIGBUS)
			real_sigaction(s, NULL, &prog_act[s]);
	install_handler(SIGSEGV);
	install_handler(SIGBUS);
	pthread_atfork(before_fork, NULL, in_child);
	conn();
}
