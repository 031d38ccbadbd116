{
  "targets": [
    {
      "target_name": "sg_relay",
      "sources": ["native/data-relay.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", { "type": "none", "sources!": ["native/data-relay.c"] }]]
    }
  ]
}
