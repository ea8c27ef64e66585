// Shared by the interop scripts: a node-opcua session to the twin over SignAndEncrypt
// (Basic256Sha256) with a user name, trusting exactly the twin's server certificate.
//
// CONFIG fields used here: {endpoint, pkiRoot, serverCert, cert, key, applicationUri, user,
// password}. Output protocol of the scripts: one JSON object per line on stdout (emit).
"use strict";

const fs = require("fs");
const {
  OPCUAClient,
  MessageSecurityMode,
  SecurityPolicy,
  UserTokenType,
} = require("node-opcua-client");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function connect(cfg) {
  const manager = new OPCUACertificateManager({
    rootFolder: cfg.pkiRoot,
    automaticallyAcceptUnknownCertificate: false,
  });
  await manager.initialize();
  await manager.trustCertificate(fs.readFileSync(cfg.serverCert));

  const client = OPCUAClient.create({
    applicationName: "cell-twin interop",
    applicationUri: cfg.applicationUri,
    clientCertificateManager: manager,
    certificateFile: cfg.cert,
    privateKeyFile: cfg.key,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 1, initialDelay: 200, maxDelay: 500 },
  });
  await client.connect(cfg.endpoint);
  const session = await client.createSession({
    type: UserTokenType.UserName,
    userName: cfg.user,
    password: cfg.password,
  });
  async function close() {
    await session.close();
    await client.disconnect();
    await manager.dispose();
  }
  return { session, close };
}

// Run main(cfg) with the config file named on the command line; report a failure as a
// {"step": "error"} line and exit 1.
function run(main) {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  main(cfg).catch((err) => {
    emit({ step: "error", message: String((err && err.stack) || err) });
    process.exit(1);
  });
}

module.exports = { connect, emit, run };
