"""hyp_package: a boot package built from guest and server images at build time."""

def hyp_package(name, vms, **kwargs):
    """Packs `vms` into NAME.pkg.

    Args:
      name: target name.
      vms: list of dicts with keys name, image (a label of an arm64 Image,
        or of a flat binary without the header, which is placed at RAM +
        0x80000 as QEMU's -kernel places one), and optionally vcpus, memory_mib, bootargs, initrd (a
        label); for a device
        server kind = "server", device_memory = [(base, size), ...] (whole
        devices of the machine, docs/servers.md "Devices"), device_irqs
        (their physical SPIs, which the server gets) and dma_pool_kib (a
        DMA pool, docs/servers.md "DMA"); for a guest
        devices = [{name, server, model, base}]; for either kind control
        (True: may restart, stop and start every server; a list of server
        names: those; docs/control.md) and for a server stopped = True
        (not started at boot); for
        either kind the FF-A properties (docs/ffa.md) ffa_id, ffa_uuid,
        ffa_messaging (a list of "direct-receive", "direct-send",
        "indirect", "notifications"; [] for none) and ffa_direct_targets
        (partition names); for a guest memory_grants = [{servers, base,
        size}]: memory the kernel shares with those servers at boot (base
        and size, a guest IPA range, left out: all of the guest's RAM).
      **kwargs: passed to the genrule.
    """
    lines = ["/dts-v1/;", "/ {", '  compatible = "hyp,manifest-1";', "  vms {"]
    images = []
    for vm in vms:
        if vm["image"] not in images:
            images.append(vm["image"])
        if vm.get("initrd") and vm["initrd"] not in images:
            images.append(vm["initrd"])
        lines.append("    %s {" % vm["name"])
        if vm.get("kind"):
            lines.append('      kind = "%s";' % vm["kind"])
        lines.append("      vcpus = <%d>;" % vm.get("vcpus", 1))
        lines.append("      memory-mib = <%d>;" % vm.get("memory_mib", 16))
        lines.append('      kernel = "$(location %s)";' % vm["image"])
        if vm.get("initrd"):
            lines.append('      initrd = "$(location %s)";' % vm["initrd"])
        if vm.get("bootargs"):
            lines.append('      bootargs = "%s";' % vm["bootargs"])
        if vm.get("control") == True:
            lines.append("      control;")
        elif vm.get("control"):
            lines.append("      control = %s;" % ", ".join(['"%s"' % t for t in vm["control"]]))
        if vm.get("stopped"):
            lines.append("      stopped;")
        if vm.get("device_memory"):
            lines.append("      device-memory = %s;" % ", ".join([
                "<0x0 %d 0x0 %d>" % (base, size)
                for base, size in vm["device_memory"]
            ]))
        if vm.get("dma_pool_kib"):
            lines.append("      dma-pool-kib = <%d>;" % vm["dma_pool_kib"])
        if vm.get("device_irqs"):
            lines.append("      device-irq = <%s>;" % " ".join(["%d" % i for i in vm["device_irqs"]]))
        if vm.get("ffa_id"):
            lines.append("      ffa-id = <%d>;" % vm["ffa_id"])
        if vm.get("ffa_uuid"):
            lines.append('      ffa-uuid = "%s";' % vm["ffa_uuid"])
        if "ffa_messaging" in vm:
            lines.append("      ffa-messaging = %s;" % ", ".join(['"%s"' % m for m in (vm["ffa_messaging"] or ["none"])]))
        if vm.get("ffa_direct_targets"):
            lines.append("      ffa-direct-targets = %s;" % ", ".join(['"%s"' % t for t in vm["ffa_direct_targets"]]))
        if vm.get("devices"):
            lines.append("      devices {")
            for dev in vm["devices"]:
                lines.append('        %s { server = "%s"; model = "%s"; base = <0x0 %d>; };' %
                             (dev["name"], dev["server"], dev["model"], dev["base"]))
            lines.append("      };")
        if vm.get("memory_grants"):
            lines.append("      memory-grants {")
            for i, g in enumerate(vm["memory_grants"]):
                lines.append("        grant%d {" % i)
                lines.append("          servers = %s;" % ", ".join(['"%s"' % s for s in g["servers"]]))
                if "base" in g or "size" in g:
                    lines.append("          base = <%d %d>;" % (g["base"] // 4294967296, g["base"] % 4294967296))
                    lines.append("          size = <%d %d>;" % (g["size"] // 4294967296, g["size"] % 4294967296))
                lines.append("        };")
            lines.append("      };")
        lines.append("    };")
    lines += ["  };", "};"]
    native.genrule(
        name = name,
        srcs = images,
        outs = [name + ".pkg"],
        cmd = ("cat > $(@D)/{n}.dts <<'EOF'\n{dts}\nEOF\n" +
               "dtc -q -I dts -O dtb -o $(@D)/{n}.manifest.dtb $(@D)/{n}.dts && " +
               "$(location //tools/pack) --manifest=$(@D)/{n}.manifest.dtb --out=$@").format(
            n = name,
            dts = "\n".join(lines),
        ),
        tools = ["//tools/pack"],
        **kwargs
    )
