"""arca_proto_library: compiles .proto files with the system protoc and
grpc_cpp_plugin (Debian's protobuf-compiler and protobuf-compiler-grpc) into
one cc_library. Nothing is downloaded.

Generated headers are included as "arca/v1/<name>.pb.h" (and .grpc.pb.h).
The macro must be used in the //protos package, whose directory is the
protoc import root.
"""

def arca_proto_library(name, srcs, deps = [], grpc = True):
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    dep_protos = [d + "_srcs" for d in deps]
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + dep_protos,
    )
    grpc_args = ""
    if grpc:
        grpc_args = "--grpc_out=$(GENDIR)/protos --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        srcs = srcs + dep_protos,
        outs = outs,
        cmd = ("/usr/bin/protoc -Iprotos --cpp_out=$(GENDIR)/protos " + grpc_args +
               " ".join(["protos/" + s for s in srcs])),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["//third_party:protobuf", "//third_party:grpc++"],
        visibility = ["//visibility:public"],
    )
