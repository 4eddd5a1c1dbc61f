// One RgwServer for a whole test binary (a gtest global environment): the
// gateway starts before the first test under TEST_TMPDIR/rgw and stops after
// the last. Tests share it and use one bucket each.
#ifndef ARCA_LIBS_TESTING_RGW_ENVIRONMENT_H_
#define ARCA_LIBS_TESTING_RGW_ENVIRONMENT_H_

#include "libs/testing/rgw_server.h"

namespace arca::testing {

// Registers the environment (call once, before RUN_ALL_TESTS, e.g. from
// main or a namespace-scope initializer). With `export_aws_env` the
// endpoint, keys and region are also set as AWS_ENDPOINT_URL,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION, so child
// processes (the arca CLI, the services) find the gateway.
void RegisterSharedRgw(RgwServerOptions options = {}, bool export_aws_env = false);

// The running gateway; null before the environment's SetUp (or when it
// failed to start, which fails every test).
RgwServer* SharedRgw();

}  // namespace arca::testing

#endif  // ARCA_LIBS_TESTING_RGW_ENVIRONMENT_H_
