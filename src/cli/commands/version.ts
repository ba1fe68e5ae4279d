// `latent version`: versions of the library, libtorch and the build (BLAS, OpenMP, CUDA).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';

export const command: CommandModule = {
  command: 'version',
  describe: 'print library, libtorch and build information',
  handler: async () => {
    const torch = await import('../../torch');
    const v = torch.version();
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8'));
    console.log(`latent-tokens ${pkg.version}`);
    console.log(
      `libtorch ${v.libtorch} (${v.cuda ? 'CUDA ' + v.cuda : 'CPU'}), addon CUDA kernels: ${v.addonCuda ? 'yes' : 'no'}`,
    );
    console.log(`threads ${torch.getNumThreads()}, MKL ${v.mkl}, OpenMP ${v.openmp}, MKLDNN ${v.mkldnn}`);
    console.log(
      `CUDA available: ${torch.cuda.isAvailable()}${torch.cuda.isAvailable() ? '' : ` (${torch.cuda.unavailableReason()})`}`,
    );
  },
};
