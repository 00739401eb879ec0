// The W3C WebVTT validator's parser (CommonJS, untyped): the parts the writers target reads.
declare module 'webvtt-parser' {
  namespace webvtt {
    interface ParsedCue {
      id: string;
      startTime: number;
      endTime: number;
      text: string;
    }
    class WebVTTParser {
      parse(
        input: string,
        mode?: 'subtitles' | 'metadata' | 'chapters',
      ): { cues: ParsedCue[]; errors: { message: string; line: number; col: number }[] };
    }
  }
  export = webvtt;
}
