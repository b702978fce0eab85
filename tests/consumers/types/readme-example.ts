// hypha-core@0.20.86 README, "TypeScript Usage Example", with only the import line changed
// (hypha-core -> hypha-core-rs). hypha-core is MIT-licensed.

import { HyphaCore, type HyphaCoreConfig, type TokenConfig } from 'hypha-core-rs';

const config: HyphaCoreConfig = {
    port: 9527,
    jwtSecret: 'your-secure-secret',
    baseUrl: 'http://localhost:9527/'
};

const hyphaCore = new HyphaCore(config);
const api = await hyphaCore.start();

// Type-safe token generation
const tokenConfig: TokenConfig = {
    user_id: 'typescript-user',
    workspace: 'typed-workspace',
    expires_in: 3600
};

const token: string = await api.generateToken(tokenConfig);
