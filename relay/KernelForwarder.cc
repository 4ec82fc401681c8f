#include "relay/KernelForwarder.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/Fd.h"

#if RDV_HAVE_BPF
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "relay/bpf/relay_tc.h"
#include "relay_tc.skel.h"
#endif

namespace rdv::relay {

#if RDV_HAVE_BPF
namespace {

constexpr uint32_t kIngressParent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
constexpr uint32_t kEgressParent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS);

std::string errnoText(int err) { return std::strerror(err < 0 ? -err : err); }

int libbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = std::vsnprintf(line, sizeof(line), format, args);
  if (n > 0 && line[std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1) - 1] == '\n') {
    line[std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1) - 1] = '\0';
  }
  // bpf_tc_hook_create on an existing clsact qdisc is expected (another relay, or a stale one).
  if (level == LIBBPF_WARN && std::strstr(line, "Exclusivity flag on") == nullptr) spdlog::warn("libbpf: {}", line);
  else spdlog::debug("libbpf: {}", line);
  return 0;
}

struct TcFilter {
  uint32_t handle = 0;
  uint16_t priority = 0;
  std::string kind;
};

// The filters under one clsact parent (RTM_GETTFILTER dump). Empty when there is no clsact
// qdisc; nullopt when netlink itself failed.
std::optional<std::vector<TcFilter>> listFilters(int ifindex, uint32_t parent) {
  common::Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return std::nullopt;
  struct {
    nlmsghdr nh;
    tcmsg tc;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(tcmsg));
  req.nh.nlmsg_type = RTM_GETTFILTER;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  req.tc.tcm_parent = parent;
  if (::send(fd.get(), &req, req.nh.nlmsg_len, 0) < 0) return std::nullopt;
  std::vector<TcFilter> out;
  std::vector<char> buf(32768);
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    int len = static_cast<int>(n);
    // The kernel's NLMSG_OK compares its unsigned nlmsg_len with the signed length by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
#pragma GCC diagnostic pop
      if (nh->nlmsg_type == NLMSG_DONE) return out;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        // No clsact qdisc on the device: nothing is attached.
        return out;
      }
      if (nh->nlmsg_type != RTM_NEWTFILTER) continue;
      auto* t = static_cast<tcmsg*>(NLMSG_DATA(nh));
      TcFilter f;
      f.handle = t->tcm_handle;
      f.priority = static_cast<uint16_t>(TC_H_MAJ(t->tcm_info) >> 16);
      int alen = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)));
      for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(t) + NLMSG_ALIGN(sizeof(tcmsg)));
           RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == TCA_KIND) f.kind = static_cast<const char*>(RTA_DATA(a));
      }
      if (f.handle != 0) out.push_back(std::move(f));  // handle 0: the classifier itself
    }
  }
}

bool processAlive(uint32_t pid) { return pid != 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

struct Interface {
  std::string name;
  int ifindex = 0;
  int hwType = 0;  // ARPHRD_*
};

Expected<Interface, std::string> interfaceOwning(in_addr_t addr, std::set<in_addr_t>& localAddrs) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return Unexpected(fmt::format("getifaddrs: {}", errnoText(errno)));
  Interface found;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    const in_addr_t a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
    localAddrs.insert(a);
    if (a == addr && found.name.empty() && (i->ifa_flags & IFF_UP) != 0) found.name = i->ifa_name;
  }
  freeifaddrs(list);
  if (found.name.empty()) {
    char text[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr, text, sizeof(text));
    return Unexpected(fmt::format("no interface that is up has address {}", text));
  }
  found.ifindex = static_cast<int>(if_nametoindex(found.name.c_str()));
  common::Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, found.name.c_str(), IFNAMSIZ - 1);
  if (found.ifindex == 0 || ::ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) {
    return Unexpected(fmt::format("interface {}: {}", found.name, errnoText(errno)));
  }
  found.hwType = ifr.ifr_hwaddr.sa_family;
  return found;
}

rdv_fwd_key keyOf(const common::SockAddr& a) {
  const auto* sin = reinterpret_cast<const sockaddr_in*>(a.sa());
  rdv_fwd_key k{};
  k.addr = sin->sin_addr.s_addr;
  k.port = sin->sin_port;
  return k;
}

KernelEntryCounters countersOf(const rdv_fwd_entry& e) {
  KernelEntryCounters c;
  c.packets = e.packets;
  c.bytes = e.bytes;
  c.spoofed = e.spoofed;
  c.lastNs = e.last_ns;
  c.ssrc = ntohl(e.ssrc);
  c.expected = e.prior_expected + (e.seq_started ? e.ext_seq - e.base_seq + 1ULL : 0ULL);
  return c;
}

}  // namespace

struct KernelForwarder::Impl {
  relay_tc* skel = nullptr;
  Interface iface;
  in_addr_t addr = 0;
  common::SockAddr local;  // the relay address, port 0
  std::set<in_addr_t> localAddrs;
  bpf_tc_hook hook{};
  bpf_tc_opts opts{};
  bool attached = false;
  int mapFd = -1;
  int totalsFd = -1;

  ~Impl() {
    if (attached) detach();
    if (skel != nullptr) relay_tc::destroy(skel);
  }

  // Removes filters of our priority whose owner (the pid in the handle) is gone.
  void removeStale() {
    auto filters = listFilters(iface.ifindex, kIngressParent);
    if (!filters) return;
    for (const auto& f : *filters) {
      if (f.priority != kTcPriority || f.kind != "bpf" || processAlive(f.handle)) continue;
      bpf_tc_opts o{};
      o.sz = sizeof(o);
      o.handle = f.handle;
      o.priority = kTcPriority;
      int rc = bpf_tc_detach(&hook, &o);
      if (rc == 0) {
        spdlog::warn("kernel forwarding: removed a stale filter on {} ingress (pid {} is gone)", iface.name, f.handle);
      } else {
        spdlog::warn("kernel forwarding: cannot remove stale filter {} on {}: {}", f.handle, iface.name, errnoText(rc));
      }
    }
  }

  Expected<bool, std::string> attach() {
    hook.sz = sizeof(hook);
    hook.ifindex = iface.ifindex;
    hook.attach_point = BPF_TC_INGRESS;
    opts.sz = sizeof(opts);
    opts.prog_fd = bpf_program__fd(skel->progs.rdv_relay_ingress);
    opts.handle = static_cast<uint32_t>(::getpid());
    opts.priority = kTcPriority;
    opts.flags = BPF_TC_F_REPLACE;  // a filter with our pid as handle can only be stale
    int rc = 0;
    // Another relay on this interface may delete an empty clsact between our create and attach.
    for (int attempt = 0; attempt < 3; ++attempt) {
      rc = bpf_tc_hook_create(&hook);
      if (rc != 0 && rc != -EEXIST) return Unexpected(fmt::format("creating clsact on {}: {}", iface.name, errnoText(rc)));
      if (attempt == 0) removeStale();
      rc = bpf_tc_attach(&hook, &opts);
      if (rc == 0) break;
    }
    if (rc != 0) return Unexpected(fmt::format("attaching to {} ingress: {}", iface.name, errnoText(rc)));
    attached = true;
    return true;
  }

  void detach() {
    bpf_tc_opts o{};
    o.sz = sizeof(o);
    o.handle = opts.handle;
    o.priority = opts.priority;
    int rc = bpf_tc_detach(&hook, &o);
    if (rc != 0) spdlog::warn("kernel forwarding: detaching from {}: {}", iface.name, errnoText(rc));
    attached = false;
    // The clsact qdisc goes when nothing else uses it (other relays' filters, other tools').
    auto in = listFilters(iface.ifindex, kIngressParent);
    auto out = listFilters(iface.ifindex, kEgressParent);
    if (in && out && in->empty() && out->empty()) {
      bpf_tc_hook h = hook;
      h.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&h);
    }
  }
};

Expected<std::unique_ptr<KernelForwarder>, std::string> KernelForwarder::create(std::string_view interface,
                                                                               uint32_t maxEntries) {
  auto ip = common::SockAddr::fromIp(interface, 0);
  if (!ip || ip->isV6()) return Unexpected(std::string("kernel forwarding supports IPv4 relay addresses only"));
  const in_addr_t addr = reinterpret_cast<const sockaddr_in*>(ip->sa())->sin_addr.s_addr;
  if (addr == htonl(INADDR_ANY)) {
    return Unexpected(std::string(
        "kernel forwarding needs relay.interface to be one address (it attaches to the interface that owns it), "
        "not 0.0.0.0"));
  }
  auto impl = std::make_unique<Impl>();
  impl->addr = addr;
  impl->local = *ip;
  auto iface = interfaceOwning(addr, impl->localAddrs);
  if (!iface) return Unexpected(iface.error());
  impl->iface = *iface;
  if (impl->iface.hwType != ARPHRD_ETHER && impl->iface.hwType != ARPHRD_LOOPBACK) {
    return Unexpected(fmt::format("interface {} is not Ethernet or loopback (ARPHRD {})", impl->iface.name,
                                  impl->iface.hwType));
  }

  libbpf_set_print(libbpfLog);
  impl->skel = relay_tc::open();
  if (impl->skel == nullptr) return Unexpected(fmt::format("opening the BPF object: {}", errnoText(errno)));
  impl->skel->rodata->l2_len = 14;  // Ethernet header, also present on loopback
  bpf_map__set_max_entries(impl->skel->maps.rdv_fwd, std::max<uint32_t>(maxEntries, 16));
  if (int rc = relay_tc::load(impl->skel); rc != 0) {
    return Unexpected(fmt::format("loading the BPF program: {} (needs CAP_BPF and CAP_NET_ADMIN)", errnoText(rc)));
  }
  impl->mapFd = bpf_map__fd(impl->skel->maps.rdv_fwd);
  impl->totalsFd = bpf_map__fd(impl->skel->maps.rdv_totals);
  if (auto r = impl->attach(); !r) return Unexpected(r.error());
  spdlog::info("kernel forwarding: TC program attached to {} ingress (filter pref {} handle {}), {} entries",
               impl->iface.name, kTcPriority, impl->opts.handle, std::max<uint32_t>(maxEntries, 16));
  if (impl->iface.hwType != ARPHRD_LOOPBACK) {
    // bpf_fib_lookup refuses to route for an interface that does not forward.
    auto path = fmt::format("/proc/sys/net/ipv4/conf/{}/forwarding", impl->iface.name);
    if (FILE* f = std::fopen(path.c_str(), "r")) {
      int on = 0;
      if (std::fscanf(f, "%d", &on) == 1 && on == 0) {
        spdlog::warn("kernel forwarding: {} has forwarding disabled ({}=0): the kernel cannot route relayed packets, "
                     "so they stay on the userspace path", impl->iface.name, path);
      }
      std::fclose(f);
    }
  }
  return std::unique_ptr<KernelForwarder>(new KernelForwarder(std::move(impl)));
}

KernelForwarder::KernelForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KernelForwarder::~KernelForwarder() = default;

Expected<bool, std::string> KernelForwarder::install(const common::SockAddr& local, const common::SockAddr& latchedSrc,
                                                     const common::SockAddr& egressLocal, const common::SockAddr& dst) {
  if (!serves(local) || latchedSrc.isV6() || egressLocal.isV6() || dst.isV6() || !latchedSrc.valid() ||
      !dst.valid()) {
    return Unexpected(std::string("not an IPv4 address of the attached interface"));
  }
  const rdv_fwd_key key = keyOf(local);
  const rdv_fwd_key src = keyOf(latchedSrc);
  const rdv_fwd_key egress = keyOf(egressLocal);
  const rdv_fwd_key to = keyOf(dst);
  rdv_fwd_entry e{};
  e.src_addr = src.addr;
  e.src_port = src.port;
  e.egress_addr = egress.addr;
  e.egress_port = egress.port;
  e.dst_addr = to.addr;
  e.dst_port = to.port;
  const bool loopback = (ntohl(to.addr) >> 24) == 127;
  if (loopback || impl_->localAddrs.count(to.addr) != 0) e.flags |= RDV_FWD_LOCAL;
  if (bpf_map_update_elem(impl_->mapFd, &key, &e, BPF_ANY) != 0) return Unexpected(errnoText(errno));
  return true;
}

std::optional<KernelEntryCounters> KernelForwarder::remove(const common::SockAddr& local) {
  const rdv_fwd_key key = keyOf(local);
  rdv_fwd_entry e{};
  if (bpf_map_lookup_and_delete_elem(impl_->mapFd, &key, &e) == 0) return countersOf(e);
  if (errno == ENOENT) return std::nullopt;
  // Kernels before 5.14 cannot look up and delete a hash entry in one call.
  if (bpf_map_lookup_elem(impl_->mapFd, &key, &e) != 0) return std::nullopt;
  bpf_map_delete_elem(impl_->mapFd, &key);
  return countersOf(e);
}

std::optional<KernelEntryCounters> KernelForwarder::readCounters(const common::SockAddr& local) const {
  const rdv_fwd_key key = keyOf(local);
  rdv_fwd_entry e{};
  if (bpf_map_lookup_elem(impl_->mapFd, &key, &e) != 0) return std::nullopt;
  return countersOf(e);
}

KernelTotals KernelForwarder::totals() const {
  KernelTotals sum;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return sum;
  std::vector<rdv_fwd_totals> perCpu(static_cast<size_t>(cpus));
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(impl_->totalsFd, &zero, perCpu.data()) != 0) return sum;
  for (const auto& t : perCpu) {
    sum.packets += t.packets;
    sum.bytes += t.bytes;
    sum.spoofed += t.spoofed;
    sum.passed += t.passed;
    sum.fallback += t.fallback;
    sum.errors += t.errors;
  }
  return sum;
}

bool KernelForwarder::serves(const common::SockAddr& local) const {
  return local.valid() && !local.isV6() &&
         reinterpret_cast<const sockaddr_in*>(local.sa())->sin_addr.s_addr == impl_->addr;
}

common::SockAddr KernelForwarder::localAddress(uint16_t port) const {
  common::SockAddr a = impl_->local;
  a.setPort(port);
  return a;
}

const std::string& KernelForwarder::interfaceName() const { return impl_->iface.name; }

#else  // !RDV_HAVE_BPF: built without libbpf/bpftool/clang; the option refuses to start.

struct KernelForwarder::Impl {
  std::string name;
};

Expected<std::unique_ptr<KernelForwarder>, std::string> KernelForwarder::create(std::string_view, uint32_t) {
  return Unexpected(std::string("this build has no kernel forwarding (libbpf-dev, bpftool or clang were missing)"));
}
KernelForwarder::KernelForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KernelForwarder::~KernelForwarder() = default;
Expected<bool, std::string> KernelForwarder::install(const common::SockAddr&, const common::SockAddr&, const common::SockAddr&,
                                                     const common::SockAddr&) {
  return Unexpected(std::string("no kernel forwarding in this build"));
}
std::optional<KernelEntryCounters> KernelForwarder::remove(const common::SockAddr&) { return std::nullopt; }
std::optional<KernelEntryCounters> KernelForwarder::readCounters(const common::SockAddr&) const { return std::nullopt; }
KernelTotals KernelForwarder::totals() const { return {}; }
bool KernelForwarder::serves(const common::SockAddr&) const { return false; }
common::SockAddr KernelForwarder::localAddress(uint16_t) const { return common::SockAddr(); }
const std::string& KernelForwarder::interfaceName() const { return impl_->name; }

#endif

}  // namespace rdv::relay
