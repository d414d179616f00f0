import { Controller, HttpCode, Post, Query } from '@nestjs/common';
import { AntiEntropyService } from './anti-entropy.service.js';
import { type SessionRecord } from './peer-sessions.js';

/** `POST /v1/cluster/anti-entropy?peer=<id>`: one anti-entropy round now (with `peer`, or the live peer synced least recently). */
@Controller('v1/cluster/anti-entropy')
export class AntiEntropyController {
  constructor(private readonly antiEntropy: AntiEntropyService) {}

  @Post()
  @HttpCode(200)
  async round(@Query('peer') peer?: string): Promise<{ session: SessionRecord | null }> {
    return { session: (await this.antiEntropy.round(peer === '' ? undefined : peer)) ?? null };
  }
}
