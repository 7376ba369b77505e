export { courseCatalogueProjection, CATALOGUE } from './projection.ts';
export { evolveEntry, type CatalogueEntry, type CatalogueSection, type CatalogueMaterial } from './entry.ts';
export {
  listCourses,
  getCourse,
  courseAccess,
  decodeCursor,
  InvalidCursor,
  type Viewer,
  type CatalogueItem,
  type CatalogueFilter,
  type Cursor,
} from './readers.ts';
