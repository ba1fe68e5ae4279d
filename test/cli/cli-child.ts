// The `latent` CLI from source, for tests that run it as a user would (its own process, exit code, output).
import { main } from '../../src/cli/main';

void main(process.argv.slice(2));
