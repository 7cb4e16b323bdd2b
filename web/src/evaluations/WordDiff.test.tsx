import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { WordDiff } from './WordDiff';

describe('word diff', () => {
  it("marks the words added to the baseline's answer and strikes the ones it lost", () => {
    const { container } = render(
      <WordDiff ops={[{ op: 'equal', text: 'Hello,' }, { op: 'delete', text: 'dear' }, { op: 'insert', text: 'lovely' }, { op: 'equal', text: 'Olga!' }]} />,
    );
    expect(container.querySelector('ins')?.textContent?.trim()).toBe('lovely');
    expect(container.querySelector('del')?.textContent?.trim()).toBe('dear');
    expect(container.textContent?.replace(/\s+/g, ' ').trim()).toBe('Hello, dear lovely Olga!');
  });
});
