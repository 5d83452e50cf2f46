// A module with no listeners: imported, registers nothing.
export const answer = 42;
